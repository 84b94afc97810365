"""Run configuration: ``-p`` overrides, ``--config`` files, merging, and the ``Config`` object.

Precedence, lowest to highest: ``init(config=...)`` defaults, the ``--config`` file, ``-p``
overrides.  YAML files are handled by :mod:`gitexp.model.configfile`, imported only when
needed so that ``import gitexp`` stays cheap.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView

from gitexp.errors import UsageError
from gitexp.model import values
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from gitexp.model.overrides import OverrideWatch


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
    from gitexp.model.configfile import parse_value

    return parse_value(raw, text, _usage)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``--config`` file (YAML, or JSON by its ``.json`` suffix); see configfile."""
    from gitexp.model.configfile import load_config_file as load

    return load(path)


def dump_yaml(cfg: Mapping[str, Any]) -> str:
    """``config.yaml`` text for a config; see :func:`gitexp.model.configfile.dump_yaml`."""
    from gitexp.model.plainyaml import dump_plain

    plain = dump_plain(cfg)  # the same text, without importing PyYAML, for plain configs
    if plain is not None:
        return plain
    from gitexp.model.configfile import dump_yaml as dump

    return dump(cfg)


def load_yaml(text: str, *, source: str = "config.yaml") -> dict[str, Any]:
    """The inverse of :func:`dump_yaml`."""
    from gitexp.model.plainyaml import load_plain

    plain = load_plain(text)  # what dump_plain wrote: read without importing PyYAML
    if plain is not None:
        return plain
    from gitexp.model.configfile import load_yaml as load

    return load(text, source=source)


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
        # Set by a wrapped run: notes which overrides the script read or set itself
        # (model/overrides.py), so the record can tell a used override from an ignored one.
        self._watch: OverrideWatch | None = None
        if initial:
            self._assign(initial.items(), notify=False)

    def _assign(self, items: Any, notify: bool = True, only_missing: bool = False) -> None:
        bad: list[tuple[str, Any]] = []
        changed = False
        reported: dict[str, Any] = {}
        for key, value in items:
            key = key if isinstance(key, str) else str(key)
            if only_missing and key in self._data:
                if self._watch is not None:  # the script's own default, even if not taken
                    reported[key] = self._normalize(value, key, [])
                continue
            self._data[key] = self._normalize(value, key, bad)
            reported[key] = self._data[key]
            changed = True
        if notify and self._watch is not None and reported:
            self._watch.saw_report(reported)
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
        value = plain(value)
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
        if self._watch is not None:
            self._watch.saw_read(name, self._data)
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
        if self._watch is not None:
            self._watch.saw_read(key, self._data)
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
        if self._watch is not None:
            self._watch.saw_read(key, self._data)
        return self._data.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        self._saw_all_read()
        return self._data.values()

    def items(self) -> ItemsView[str, Any]:
        self._saw_all_read()
        return self._data.items()

    def _saw_all_read(self) -> None:
        if self._watch is not None:
            self._watch.saw_all_read(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict[str, Any]:
        """A deep copy as plain dicts and lists, safe to mutate or serialize."""
        self._saw_all_read()
        return copy.deepcopy(self._data)

    def set_override_watch(self, watch: OverrideWatch) -> None:
        """Note from now on which overrides the script reads or sets (model/overrides.py)."""
        self._watch = watch

    def override_watch(self) -> OverrideWatch | None:
        return self._watch

    def stored(self) -> dict[str, Any]:
        """What gitexp itself writes to the live folder: as_dict, not counted as the
        script reading its config."""
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def __getstate__(self) -> dict[str, Any]:
        # on_change and the watch stay with the run's process (a pickled copy is another's)
        return {"_data": self._data, "_warned": self._warned}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", state["_data"])
        object.__setattr__(self, "_warned", state["_warned"])
        object.__setattr__(self, "_on_change", None)
        object.__setattr__(self, "_watch", None)


def plain(value: Any) -> Any:
    """A config object of another library as plain dicts and lists, or ``value`` itself.

    Recognised by module name, so that neither library is imported for anyone who does
    not use it: OmegaConf's ``DictConfig``/``ListConfig`` (Hydra) resolved, with lists as
    lists; a click ``Context`` (click and typer) as its parameters.
    """
    module = type(value).__module__ or ""
    if module.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    if module.startswith("click") and isinstance(getattr(value, "params", None), dict):
        return dict(value.params)
    return value


def _as_mapping(d: Any) -> Mapping[Any, Any]:
    d = plain(d)
    if isinstance(d, Config):
        return d.as_dict()
    if isinstance(d, Mapping):
        return d
    import dataclasses  # only for dataclass configs; keeps `import gitexp` light

    if dataclasses.is_dataclass(d) and not isinstance(d, type):
        return dataclasses.asdict(d)
    if hasattr(d, "__dict__"):  # argparse.Namespace and plain objects; skip private fields
        return {k: v for k, v in vars(d).items() if not k.startswith("_")}
    raise UsageError(
        f"cannot update the config from a {type(d).__name__}",
        "pass a dict, an argparse.Namespace or an object with attributes",
    )
