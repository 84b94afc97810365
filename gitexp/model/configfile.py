"""Config files and ``config.yaml``: YAML 1.2 reading, faithful writing, clear errors.

Kept apart from :mod:`gitexp.model.config` so that ``import gitexp`` does not import
PyYAML: only starting a run, reading a config file or writing ``config.yaml`` does.

YAML is read with the YAML 1.2 core schema rather than PyYAML's YAML 1.1 default:
under 1.1 ``lr: 1e-3`` is the *string* "1e-3", ``yes`` is a bool and ``2024-01-01`` a
date that JSON cannot hold; under 1.2 ``1e-3`` is a float and ``yes``/dates stay strings.
``config.yaml`` (written into git) quotes every string that YAML 1.1 *or* 1.2 would read
as something else, so any YAML tool reads it back unchanged.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from gitexp.errors import ConfigError, UsageError
from gitexp.model import values
from gitexp.model.validate import MAX_DEPTH, MAX_YAML_NODES, check_shape

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution); int before float.
_CORE_RESOLVERS = [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("merge", r"^(?:<<)$", ["<"]),  # not core 1.2, but config files use anchors and merges
]
_CORE = {tag: re.compile(rx) for tag, rx, _ in _CORE_RESOLVERS}
# -p also accepts the spellings people type on a command line: nan, inf, -inf, Infinity.
_NONFINITE_WORD = re.compile(r"^[-+]?\.?(?:nan|inf|infinity)$", re.IGNORECASE)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader with YAML 1.2 core resolution that rejects duplicate keys."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith(("0o", "0x")):  # 1.2: 0o17 is octal; 017 is decimal 17
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":str"):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Safe dumper whose resolvers are YAML 1.1 plus 1.2 core, so ambiguous strings get quoted."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a config shared between two keys is written twice, not as &id001

    def represent_str(self, data: str) -> yaml.ScalarNode:
        # Multi-line strings as literal blocks; the emitter falls back to quotes when unsafe.
        node: yaml.ScalarNode = self.represent_scalar(
            "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
        )
        return node


for _tag, _rx, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", _CORE[_tag], _first)
    _Dumper.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", _CORE[_tag], _first)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Dumper.add_representer(tuple, _Dumper.represent_list)
_Dumper.add_representer(str, _Dumper.represent_str)
_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 1 << 30,
}


def parse_value(raw: str, text: str, _usage: Callable[[str], UsageError]) -> Any:
    """The typed value of one ``-p key=value`` (see ``config.parse_override``)."""
    if not raw:
        return ""  # `-p x=` is the empty string, not YAML's null
    if raw[:1] in ("[", "{", '"', "'"):
        try:
            return yaml.load(raw, Loader=_Loader)  # _Loader is a SafeLoader subclass
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. `!!int abc`
            raise _usage(f"invalid value in override {text!r}: {_yaml_problem(exc)}") from None
    if _NONFINITE_WORD.match(raw):
        word = raw.lower().lstrip("+-.")
        return math.nan if word == "nan" else (-math.inf if raw[0] == "-" else math.inf)
    for tag in ("null", "bool", "int", "float"):
        if _CORE[tag].match(raw):
            return yaml.load(raw, Loader=_Loader)
    return raw


def _yaml_problem(exc: Exception) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}{exc.problem or exc.context}"
    return str(exc)


def _parse_yaml(text: str, source: str, *, trusted: bool = True) -> dict[str, Any]:
    """``trusted``: a user's own file, where anchors and merges may expand to at most
    ``MAX_YAML_NODES`` values; otherwise (a run's ``config.yaml`` read from git, which
    gitexp never writes with anchors) any anchor or alias is refused before loading."""
    try:
        if trusted:
            _check_expansion(text, source)
        else:
            _refuse_aliases(text, source)
        data = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. `!!int abc`
        raise ConfigError(
            f"invalid YAML in {source}: {_yaml_problem(exc)}", "fix the syntax at that line"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{source} nests deeper than {MAX_DEPTH} levels", "flatten the config"
        ) from None
    problem = check_shape(data)
    if problem:
        raise ConfigError(f"{source} {problem}", "make the config smaller")
    return _check_top(data, source)


def _refuse_aliases(text: str, source: str) -> None:
    # One pass over the parser's events (no values built): an alias bomb of 300 bytes
    # would otherwise expand to billions of values in whatever walks the config.
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(
                f"{source} uses a YAML anchor or alias, which gitexp never writes",
                "It was not written by gitexp: inspect the run with `git show`.",
            )


def _check_expansion(text: str, source: str) -> None:
    """Refuse a file whose anchors and merges expand beyond ``MAX_YAML_NODES`` values
    (or refer to themselves), before any value is built."""
    if "&" not in text and "*" not in text:
        return  # no anchor, no alias: the size of the text bounds the values
    root = yaml.compose(text, Loader=_Loader)
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(
                f"{source}: an alias refers to a node that contains it",
                "replace the recursive alias with the values it stands for",
            )
        active.add(key)
        total = 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise ConfigError(
                    f"{source}: its anchors and aliases expand to more than "
                    f"{MAX_YAML_NODES:,} values",
                    "write the repeated parts out, or make the config smaller",
                )
        active.discard(key)
        sizes[key] = total
        return total

    if root is not None:
        size(root)


def _check_top(data: Any, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys to values, "
            f"not a {type(data).__name__}",
            "write one 'key: value' per line, e.g. 'lr: 0.01'",
        )
    _check_tree(data, "", source)
    return data


def _check_tree(value: Any, path: str, source: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                where = f" under {path!r}" if path else ""
                raise ConfigError(
                    f"{source}: key {key!r}{where} is a {type(key).__name__}, not a string",
                    f"quote the key, e.g. '{key}': ...",
                )
            _check_tree(item, f"{path}.{key}" if path else key, source)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_tree(item, f"{path}[{i}]", source)
    elif value is not None and not isinstance(value, (str, int, float)):
        raise ConfigError(
            f"{source}: value of {path!r} is a {type(value).__name__}, which gitexp cannot store",
            "use a string, number, bool, null, list or mapping",
        )


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``--config`` file (YAML, or JSON by its ``.json`` suffix) into a dict.

    Every failure is a :class:`ConfigError` that names the file and what to do next.
    """
    p = Path(path)
    hint = "check the path given to --config"
    if not p.exists():
        raise ConfigError(f"config file not found: {p}", hint)
    if p.is_dir():
        raise ConfigError(f"config path is a directory, not a file: {p}", hint)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}", hint) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text: {exc.reason}", hint) from None
    if p.suffix.lower() != ".json":
        return _parse_yaml(text, str(p))
    if not text.strip():
        return {}
    try:
        data = values.loads(text)  # plain JSON, plus gitexp's {"$float": "NaN"} tags
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON in {p}: line {exc.lineno}, column {exc.colno}: {exc.msg}",
            "fix the syntax at that line",
        ) from None
    return _check_top(data, str(p))


def dump_yaml(cfg: Mapping[str, Any]) -> str:
    """Serialize a (normalized) config as block-style YAML in insertion order, for git diffs.

    Long strings are never folded (one value, one line in a diff); multi-line strings become
    literal ``|`` blocks.  Text that is not valid Unicode (a lone surrogate from a mis-decoded
    file name) cannot be written as UTF-8 and raises ConfigError.
    """
    try:
        return str(yaml.dump(dict(cfg), Dumper=_Dumper, **_DUMP_OPTIONS))
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"config text {exc.object[exc.start : exc.end]!r} is not valid Unicode",
            "decode file names and byte strings before putting them in the config",
        ) from None


def load_yaml(text: str, *, source: str = "config.yaml") -> dict[str, Any]:
    """Parse a run's ``config.yaml`` (written by :func:`dump_yaml`, never with anchors);
    the exact inverse of dump_yaml.  Anchors and aliases are refused: it came from git."""
    return _parse_yaml(text, source, trusted=False)
