"""Did the script use the overrides it was given?  What a run records about ``-p``/``--config``.

``gitexp run -p lr=0.9`` hands the script its overrides through ``gitexp.config``; a script
that parses its own arguments never sees them unless the command passes them on (the
``${args}`` macros of :mod:`gitexp.model.macros`).  The record must not claim ``lr: 0.9`` for
a run that trained with 0.1, so each override gets a verdict (docs/format.md, run.json
``overrides``, added in 0.3):

* ``applied``: the script read the key through ``gitexp.config`` while it held the override's
  value, or reported that same value (``init(config=args)``, ``config.update(args)``);
* ``unapplied``: the script reported another value and never read the override; the run's
  config then holds the reported value, which is what the script said it used;
* ``unverified``: the script neither read nor reported the key, so gitexp cannot know
  (``passed`` says when a macro put the value on the command line).

:class:`OverrideWatch` lives in the training process (the ``Config`` object calls it); it
writes what it saw to the live folder's ``overrides.json``; :func:`verdicts` turns that into
the record in the wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

APPLIED = "applied"
UNAPPLIED = "unapplied"
UNVERIFIED = "unverified"

_MISSING = object()


def leaf_paths(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model.depth": 50, "lr": 0.1}``: every leaf of a nested config by its dotted path.

    An empty mapping is a leaf of its own (``-p opt={}`` sets it).
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(leaf_paths(value, path + "."))
        else:
            out[path] = value
    return out


def value_at(config: Mapping[str, Any], path: str) -> Any:
    """The value under a dotted path, or ``MISSING`` (see :func:`missing`)."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def missing(value: object) -> bool:
    return value is _MISSING


def same(a: object, b: object) -> bool:
    """Equal as a config value: 1 == 1.0 but True != 1, NaN equals NaN."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


class OverrideWatch(Slotted):
    """What the script did with each override: read it, or reported a value for it.

    ``read`` holds the paths the script read while they held the override's value;
    ``reported`` the last value the script itself set for a path.  ``changed`` is called
    when either grows, so that the live folder is written only then (reads are rare
    after the first of each key: the check is one set lookup).
    """

    _fields = ("overrides", "read", "reported")
    __slots__ = (*_fields, "changed", "_roots")

    def __init__(
        self, overrides: Mapping[str, Any], changed: Callable[[], None] | None = None
    ) -> None:
        self.overrides = leaf_paths(overrides)
        self.read: set[str] = set()
        self.reported: dict[str, Any] = {}
        self.changed = changed
        self._roots: dict[str, list[str]] = {}
        for path in self.overrides:
            self._roots.setdefault(path.split(".", 1)[0], []).append(path)

    def saw_read(self, key: str, data: Mapping[str, Any]) -> None:
        """The script read top-level ``key`` of the config ``data``."""
        paths = self._roots.get(key)
        if not paths:
            return
        grew = False
        for path in paths:
            if path not in self.read and same(value_at(data, path), self.overrides[path]):
                self.read.add(path)
                grew = True
        if grew and self.changed is not None:
            self.changed()

    def saw_all_read(self, data: Mapping[str, Any]) -> None:
        """The script took the whole config (``dict(config)``, ``as_dict()``, ``items()``)."""
        for key in list(self._roots):
            self.saw_read(key, data)

    def saw_report(self, values: Mapping[str, Any]) -> None:
        """The script set these top-level keys itself (``init(config=...)``, ``update``)."""
        grew = False
        for key, value in values.items():
            for path in self._roots.get(str(key), ()):
                rest = path.split(".", 1)[1:] if "." in path else []
                reported = value_at(value, rest[0]) if rest else value
                if not missing(reported) and (
                    path not in self.reported or not same(self.reported[path], reported)
                ):
                    self.reported[path] = reported
                    grew = True
        if grew and self.changed is not None:
            self.changed()

    def as_json(self) -> dict[str, Any]:
        """The live folder's ``overrides.json``."""
        return {"read": sorted(self.read), "reported": dict(self.reported)}


class Verdict(Slotted):
    """One override's entry in run.json ``overrides``."""

    _fields = ("path", "value", "status", "reported", "passed", "how")
    __slots__ = _fields

    def __init__(
        self,
        path: str,
        value: Any,
        status: str,
        reported: Any = _MISSING,
        passed: bool = False,
        how: str | None = None,
    ) -> None:
        self.path = path
        self.value = value
        self.status = status
        self.reported = reported
        self.passed = passed
        self.how = how  # applied by "read" or "reported"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "status": self.status}
        if self.how:
            out["how"] = self.how
        if not missing(self.reported):
            out["reported"] = self.reported
        if self.passed:
            out["passed"] = "command line"
        return out


def verdicts(
    overrides: Mapping[str, Any], seen: Mapping[str, Any] | None, passed: frozenset[str]
) -> list[Verdict]:
    """Each override's verdict from what the script's watch saw (``overrides.json``).

    ``passed`` names the paths a macro put on the command line.  ``seen`` is None when the
    script never joined the run (it does not use gitexp): nothing can be verified then.
    """
    seen = seen if isinstance(seen, Mapping) else {}
    read_list = seen.get("read")
    read: list[Any] = read_list if isinstance(read_list, list) else []
    reported_map = seen.get("reported")
    reported: Mapping[str, Any] = reported_map if isinstance(reported_map, Mapping) else {}
    out: list[Verdict] = []
    for path, value in leaf_paths(overrides).items():
        was_passed = path in passed or _under(path, passed)
        if path in read:
            out.append(Verdict(path, value, APPLIED, passed=was_passed, how="read"))
        elif path in reported:
            got = reported[path]
            if same(got, value):
                out.append(Verdict(path, value, APPLIED, got, was_passed, how="reported"))
            else:
                out.append(Verdict(path, value, UNAPPLIED, got, was_passed))
        else:
            out.append(Verdict(path, value, UNVERIFIED, passed=was_passed))
    return out


def _under(path: str, passed: frozenset[str]) -> bool:
    return any(path.startswith(p + ".") for p in passed)


def apply_reported(config: dict[str, Any], results: list[Verdict]) -> dict[str, Any]:
    """The run's config with each unapplied override replaced by what the script reported."""
    from gitexp.model.config import set_dotted

    for verdict in results:
        if verdict.status == UNAPPLIED:
            set_dotted(config, verdict.path.split("."), verdict.reported)
    return config


def confirmed(entry: Mapping[str, object]) -> bool:
    """Shown to reach the program: read through gitexp.config, or passed by a macro.  A
    reported value equal to the override may be the script's own default by chance."""
    return bool(entry.get("how") == "read" or entry.get("passed"))


def doubtful(entry: Mapping[str, object]) -> bool:
    """An override (run.json entry) the program shows no sign of taking: unapplied, or
    unverified and not passed on by a macro.  A program given its values on the command
    line that does not use gitexp cannot say more, so that one is not doubted."""
    status = entry.get("status")
    return status == UNAPPLIED or (status == UNVERIFIED and not entry.get("passed"))


def judge(
    raw: dict[str, Any],
    given: Mapping[str, Any],
    seen: object,
    passed: frozenset[str],
    allow: tuple[str, ...],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """run.json's ``overrides`` and the config as the run records it.

    ``raw``: the live config; ``given``: what ``gitexp run`` was given; ``seen``: the
    script's ``overrides.json``.  A value that looks secret is replaced in the entry as in
    the config (model/redact.py), its verdict kept.
    """
    from gitexp.model import redact

    results = verdicts(given, seen if isinstance(seen, Mapping) else None, passed)
    secret = redact.redact_config(given, allow)[1]
    entries = {
        v.path: _hidden(v.as_json(), redact.PLACEHOLDER) if _covers(v.path, secret) else v.as_json()
        for v in results
    }
    return entries, apply_reported(raw, results)


def _covers(path: str, keys: list[str]) -> bool:
    return any(k == path or k.startswith((path + ".", path + "[")) for k in keys)


def _hidden(entry: dict[str, Any], placeholder: str) -> dict[str, Any]:
    return {k: placeholder if k in ("value", "reported") else v for k, v in entry.items()}


def take_hydra(extra: dict[str, object], allow: tuple[str, ...]) -> dict[str, Any] | None:
    """A Hydra app's facts that ``gitexp.init`` reported (``extra["hydra"]``), taken out
    of ``extra`` for run.json's own field; its overrides redacted as a command's are."""
    hydra = extra.get("hydra")
    if not isinstance(hydra, dict):
        return None
    del extra["hydra"]
    if isinstance(hydra.get("overrides"), list):  # key=value: secrets as in a command
        from gitexp.model import redact

        given = [str(item) for item in hydra["overrides"]]
        hydra["overrides"] = redact.redact_command(given, allow)[0]
    return hydra
