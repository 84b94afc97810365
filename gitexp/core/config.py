"""Run configuration: ``-p`` overrides, ``--config`` files, merging, and the ``Config`` object.

Precedence, lowest to highest: ``init(config=...)`` defaults, the ``--config`` file, ``-p``
overrides.  YAML is read with the YAML 1.2 core schema rather than PyYAML's YAML 1.1 default:
under 1.1 ``lr: 1e-3`` is the *string* "1e-3", ``yes`` is a bool and ``2024-01-01`` a date that
JSON cannot hold; under 1.2 ``1e-3`` is a float and ``yes``/dates stay strings.
``config.yaml`` (written into git) quotes every string that YAML 1.1 *or* 1.2 would read as
something else, so any YAML tool reads it back unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import warnings
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from pathlib import Path
from typing import Any, ClassVar

import yaml

from gitexp.core import values
from gitexp.errors import ConfigError, UsageError

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


def _usage(message: str) -> UsageError:
    return UsageError(message, "write overrides as -p key=value, e.g. -p lr=0.01 -p model.depth=50")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``-p key=value``: ``"model.opt.lr=0.1"`` -> ``(["model", "opt", "lr"], 0.1)``.

    Plain values follow the YAML 1.2 core schema (ints, floats including ``1e-3``, true/false,
    null) plus ``nan``/``inf``/``-inf``; anything else is the literal string, so ``name=yes``
    and ``date=2024-01-01`` stay strings.  Values starting with ``[ { " '`` are YAML flow syntax:
    lists, dicts and quoted strings (``x="0.01"`` is the string ``"0.01"``).
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise _usage(f"invalid override {text!r}: missing '='")
    if not key:
        raise _usage(f"invalid override {text!r}: empty key before '='")
    keys = key.split(".")
    if "" in keys:
        raise _usage(f"invalid override {text!r}: empty part in dotted key {key!r}")
    return keys, _parse_value(raw.strip(), text)


def _parse_value(raw: str, text: str) -> Any:
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


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. `!!int abc`
        raise ConfigError(
            f"invalid YAML in {source}: {_yaml_problem(exc)}", "fix the syntax at that line"
        ) from None
    return _check_top(data, source)


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


def set_dotted(d: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``d[k1][k2]...[kn] = value``, creating intermediate dicts.

    Raises :class:`UsageError` when an intermediate key holds a non-dict value, because silently
    replacing ``model: resnet`` with ``{"depth": 50}`` would lose the user's setting.
    """
    if not keys:
        raise ValueError("set_dotted needs at least one key")
    for i, key in enumerate(keys[:-1]):
        child = d.setdefault(key, {})
        if not isinstance(child, dict):
            dotted = ".".join(keys[: i + 1])
            raise UsageError(
                f"cannot set {'.'.join(keys)}: {dotted} is {child!r}, not a mapping",
                f"set the whole value instead, e.g. -p {dotted}={{{keys[i + 1]}: ...}}",
            )
        d = child
    d[keys[-1]] = value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new dict: ``override`` wins, nested mappings merge, lists are replaced whole."""
    out = {k: copy.deepcopy(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    return out


def resolve(
    defaults: Mapping[str, Any] | None,
    file_config: Mapping[str, Any] | None,
    overrides: list[tuple[list[str], Any]],
) -> dict[str, Any]:
    """Combine the three config sources: ``-p`` over ``--config`` over ``init(config=...)``."""
    cfg = deep_merge(defaults or {}, file_config or {})
    for keys, value in overrides:
        set_dotted(cfg, keys, copy.deepcopy(value))
    return cfg


def flatten_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten with ``.`` (``{"optimizer": {"lr": 1}}`` -> ``{"optimizer.lr": 1}``) for tables."""
    return values.flatten(cfg, sep=".")


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
    """Parse YAML written by :func:`dump_yaml` (or by hand); the exact inverse of dump_yaml."""
    return _parse_yaml(text, source)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


class Config:
    """The ``gitexp.config`` / ``run.config`` object, shaped like ``wandb.config``.

    Keys are reachable as attributes and items; nested dicts stay plain dicts (mutating one in
    place is not seen until the next assignment).  Values are normalized on assignment; a value
    gitexp cannot store (an arbitrary object) is kept as ``str(value)`` with one warning per key.
    Names starting with ``_`` are ordinary attributes so that internals and pickling work.
    """

    def __init__(
        self,
        initial: Mapping[Any, Any] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._data: dict[str, Any] = {}
        self._warned: set[str] = set()
        self._on_change = on_change
        if initial:
            self._assign(initial.items(), notify=False)

    def _assign(self, items: Any, notify: bool = True, only_missing: bool = False) -> None:
        bad: list[tuple[str, Any]] = []
        changed = False
        for key, value in items:
            key = key if isinstance(key, str) else str(key)
            if only_missing and key in self._data:
                continue
            self._data[key] = self._normalize(value, key, bad)
            changed = True
        for path, value in bad:
            if path not in self._warned:
                self._warned.add(path)
                warnings.warn(
                    f"config value {path!r} of type {type(value).__name__} is not a number, "
                    "str, bool, None, list or dict; storing str(value)",
                    stacklevel=3,  # _assign <- public method <- user code
                )
        if changed and notify and self._on_change is not None:
            self._on_change()

    def _normalize(self, value: Any, path: str, bad: list[tuple[str, Any]]) -> Any:
        if isinstance(value, Mapping):
            return {str(k): self._normalize(v, f"{path}.{k}", bad) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._normalize(v, f"{path}[{i}]", bad) for i, v in enumerate(value)]
        try:
            return values.normalize(value)
        except values.UnsupportedValue:
            bad.append((path, value))
            return str(value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._assign([(name, value)])

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._assign([(key, value)])

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        if self._on_change is not None:
            self._on_change()

    def update(self, d: Any, allow_val_change: bool = True) -> None:
        """Set many keys from a mapping, an ``argparse.Namespace``, a dataclass or an object.

        With ``allow_val_change=False`` changing an existing key's value raises UsageError,
        which catches a script accidentally overwriting a setting (wandb's behaviour).
        """
        items = _as_mapping(d)
        if not allow_val_change:
            for key, value in items.items():
                key = str(key)
                new = self._normalize(value, key, [])
                if key in self._data and not _same(self._data[key], new):
                    raise UsageError(
                        f"config key {key!r} already is {self._data[key]!r}; refusing to "
                        f"change it to {new!r}",
                        "pass allow_val_change=True to config.update() to change it",
                    )
        self._assign(items.items())

    def setdefaults(self, d: Any) -> None:
        """Set only the keys that are not set yet (keeps values from ``-p`` and ``--config``)."""
        self._assign(_as_mapping(d).items(), only_missing=True)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        return self._data.values()

    def items(self) -> ItemsView[str, Any]:
        return self._data.items()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists, safe to mutate or serialize."""
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"_data": self._data, "_warned": self._warned}  # on_change is not picklable

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", state["_data"])
        object.__setattr__(self, "_warned", state["_warned"])
        object.__setattr__(self, "_on_change", None)


def _as_mapping(d: Any) -> Mapping[Any, Any]:
    if isinstance(d, Config):
        return d.as_dict()
    if isinstance(d, Mapping):
        return d
    if dataclasses.is_dataclass(d) and not isinstance(d, type):
        return dataclasses.asdict(d)
    if hasattr(d, "__dict__"):  # argparse.Namespace and plain objects; skip private fields
        return {k: v for k, v in vars(d).items() if not k.startswith("_")}
    raise UsageError(
        f"cannot update the config from a {type(d).__name__}",
        "pass a dict, an argparse.Namespace or an object with attributes",
    )
