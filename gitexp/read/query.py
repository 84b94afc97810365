"""The small query language of ``gitexp ls --where``, ``--sort`` and ``--columns``.

An expression is parsed with Python's ``ast`` in "eval" mode and only a safe subset is
accepted: comparisons (``== != < <= > >= in``, ``not in``, chained ``a < x < b``),
``and``/``or``/``not``, literals (numbers, strings, ``true``/``false``/``null`` or their
Python spellings, lists) and these names, evaluated against a run's listing row:

* ``config.KEY`` (dotted for nested keys: ``config.model.depth``; ``config["batch-size"]``
  for keys that are not identifiers);
* ``metrics.KEY`` (the summary value) and ``metrics.KEY.last``, ``.min``, ``.max``
  (a ``/`` in a key needs no quoting: ``metrics.train/loss.min``; other characters do:
  ``metrics["val-loss"].min``);
* ``id``, ``name``, ``status``, ``tags``, ``group``, ``branch``, ``baseline``, ``dirty``,
  ``exit_code``, ``command``, ``start``, ``end`` (unix seconds, or compared with a date
  string such as ``"2024-05-01"`` or ``"2024-05-01 14:30"``) and ``duration`` (seconds, or
  compared with ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``).

A bare name that is not a field (``loss``, ``lr``, ``train/loss.min``) stands for the
config key or metric of that name when the runs being listed (:class:`Known`) have
exactly one of them; when they have both it is an error naming both, so a reader of a
command line never has to guess which one was meant.

A missing value (a run without that key) makes ``<``, ``>`` and friends false and equals
only ``null``; comparing a number with a string is false rather than an error, so one
odd run never breaks a listing.  Nothing is ever executed: the tree is walked here.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from gitexp.errors import UsageError
from gitexp.model.summary import row_value

if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow as Row

Getter = Callable[["Row"], object]
T = TypeVar("T")

FIELDS = (
    *("id", "name", "status", "tags", "group", "project", "branch", "baseline", "dirty"),
    *("exit_code", "command", "start", "end", "duration"),
)
STATS = ("last", "min", "max")
_TIME_FIELDS = ("start", "end")
_CONSTANT_NAMES = {"true": True, "false": False, "null": None, "none": None}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_NODE_NAMES = {
    "Call": "a function call",
    "BinOp": "arithmetic",
    "Lambda": "a lambda",
    "IfExp": "an if-expression",
    "Dict": "a dict",
    "ListComp": "a comprehension",
    "GeneratorExp": "a comprehension",
    "JoinedStr": "an f-string",
    "NamedExpr": "an assignment",
}
_NAMES_HELP = (
    "Names: config.KEY, metrics.KEY[.last|.min|.max], "
    + ", ".join(FIELDS)
    + "; see `gitexp ls --help`."
)


class QueryError(UsageError):
    """A bad --where / --sort / --columns expression; the message points at the bad part."""


class Known:
    """The config keys and metric keys of the runs a query is about: what bare names mean.

    Built from rows lazily: reading every row of 10,000 runs costs ``gitexp ls`` 0.2 s,
    and only an expression with a bare name needs them.
    """

    def __init__(
        self,
        config: frozenset[str] = frozenset(),
        metrics: frozenset[str] = frozenset(),
        rows: Callable[[], Iterable[Row]] | None = None,
    ) -> None:
        self._keys = None if rows is not None else (config, metrics)
        self._rows = rows

    @classmethod
    def from_rows(cls, rows: Callable[[], Iterable[Row]]) -> Known:
        return cls(rows=rows)

    def _load(self) -> tuple[frozenset[str], frozenset[str]]:
        if self._keys is None:
            config: set[str] = set()
            metrics: set[str] = set()
            for row in self._rows() if self._rows is not None else ():
                config.update(row.get("config") or {})
                metrics.update(row.get("metrics") or {})
            self._keys = (frozenset(config), frozenset(metrics))
        return self._keys

    @property
    def config(self) -> frozenset[str]:
        return self._load()[0]

    @property
    def metrics(self) -> frozenset[str]:
        return self._load()[1]

    def meanings(self, parts: list[str]) -> list[Name]:
        """Every qualified name the bare ``parts`` can stand for, config first."""
        joined = ".".join(parts)
        found = [Name("config", joined)] if joined in self.config else []
        if joined in self.metrics:
            found.append(Name("metrics", joined))
        elif len(parts) > 1 and parts[-1] in STATS and ".".join(parts[:-1]) in self.metrics:
            found.append(Name("metrics", ".".join(parts[:-1]), parts[-1]))
        return found

    def suggestions(self, parts: list[str]) -> list[str]:
        """Qualified names a mistyped bare name may mean: keys ending in it (``loss`` for
        ``metrics.val/loss``), else close spellings."""
        import difflib

        joined = ".".join(parts)
        qualified = [f"config.{k}" for k in sorted(self.config)]
        qualified += [f"metrics.{k}" for k in sorted(self.metrics)]
        ending = [q for q in qualified if q.endswith((f"/{joined}", f".{joined}"))]
        if ending:
            return ending[:6]
        keys = {q.split(".", 1)[1]: q for q in qualified}
        return [keys[k] for k in difflib.get_close_matches(joined, list(keys), n=4)]


@dataclass(frozen=True)
class Name:
    """A resolved name: a run field, a config key, or a metric key and statistic."""

    kind: str  # "field", "config" or "metrics"
    key: str
    stat: str = "summary"  # a metric's summary value (model/summary.py), or last/min/max

    def get(self, row: Row) -> object:
        if self.kind == "config":
            return (row.get("config") or {}).get(self.key)
        if self.kind == "metrics":
            entry = (row.get("metrics") or {}).get(self.key)
            if not isinstance(entry, dict):
                return None
            return row_value(entry) if self.stat == "summary" else entry.get(self.stat)
        if self.key == "duration":
            start, end = row.get("start"), row.get("end")
            if isinstance(start, (int, float)) and isinstance(end, (int, float)):
                return end - start
            return None
        if self.key == "command":
            command = row.get("command")
            return " ".join(command) if isinstance(command, list) else command
        return row.get(self.key)

    @property
    def label(self) -> str:
        if self.kind == "field":
            return self.key
        if self.kind == "metrics" and self.stat != "summary":
            return f"metrics.{self.key}.{self.stat}"
        return f"{self.kind}.{self.key}"


def _error(text: str, start: int, end: int, message: str, hint: str | None = None) -> QueryError:
    end = max(end, start + 1)
    pointer = " " * start + "^" * (end - start)
    return QueryError(f"{message}\n    {text}\n    {pointer}", hint)


def _parse(text: str, what: str) -> tuple[ast.expr, str]:
    flat = text.replace("\n", " ").replace("\t", " ")
    if not flat.strip():
        raise QueryError(f"an empty {what}", _NAMES_HELP)
    try:
        tree = ast.parse(flat, mode="eval")
    except SyntaxError as exc:
        start = max((exc.offset or 1) - 1, 0)
        end = (exc.end_offset or 0) - 1
        reason = (exc.msg or "invalid syntax").replace("Perhaps you forgot a comma?", "").strip()
        raise _error(flat, start, max(end, start + 1), f"invalid {what}: {reason}") from None
    return tree.body, flat


def _span(text: str, node: ast.AST) -> tuple[int, int]:
    """Character offsets of ``node`` (ast counts UTF-8 bytes)."""
    raw = text.encode("utf-8")
    start = len(raw[: getattr(node, "col_offset", 0)].decode("utf-8", "ignore"))
    end_byte = getattr(node, "end_col_offset", None) or getattr(node, "col_offset", 0) + 1
    return start, len(raw[:end_byte].decode("utf-8", "ignore"))


class _Compiler:
    def __init__(self, text: str, what: str, known: Known | None = None) -> None:
        self.text = text
        self.what = what
        self.known = known or Known()

    def fail(self, node: ast.AST, message: str, hint: str | None = None) -> QueryError:
        start, end = _span(self.text, node)
        return _error(self.text, start, end, f"invalid {self.what}: {message}", hint)

    # -- names ----------------------------------------------------------------------------

    def name(self, node: ast.expr) -> Name:
        parts = self._path(node)
        head, rest = parts[0], parts[1:]
        if head in ("config", "metrics"):
            if not rest:
                raise self.fail(node, f"{head} needs a key, as in {head}.lr", _NAMES_HELP)
            if head == "config":
                return Name("config", ".".join(rest))
            if len(rest) > 1 and rest[-1] in STATS:
                return Name("metrics", ".".join(rest[:-1]), rest[-1])
            return Name("metrics", ".".join(rest))
        if head in FIELDS and not rest:
            return Name("field", head)
        meanings = self.known.meanings(parts)
        if len(meanings) == 1:
            return meanings[0]
        if meanings:
            both = " and ".join(name.label for name in meanings)
            raise self.fail(
                node,
                f"{'.'.join(parts)!r} is ambiguous: these runs have {both}",
                f"Write the qualified name: {' or '.join(name.label for name in meanings)}.",
            )
        close = self.known.suggestions(parts)
        if close:
            guess = f" (did you mean {' or '.join(close)}?)"
        elif self.known.config or self.known.metrics:
            guess = ": no config key or metric of these runs is called that"
        elif head not in FIELDS:
            guess = f" (did you mean config.{head} or metrics.{head}?)"
        else:
            guess = ""
        raise self.fail(node, f"unknown name {'.'.join(parts)!r}{guess}", _NAMES_HELP)

    def _path(self, node: ast.expr) -> list[str]:
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Attribute):
            return [*self._path(node.value), node.attr]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            # No arithmetic is allowed, so "/" can only join the parts of a metric key
            # such as metrics.val/accuracy.max ("val/accuracy", its maximum).
            if not all(self._is_path(side) for side in (node.left, node.right)):
                raise self.fail(
                    node,
                    "arithmetic is not allowed (only comparisons, and/or/not, names and literals)",
                )
            left, right = self._path(node.left), self._path(node.right)
            return [*left[:-1], f"{left[-1]}/{right[0]}", *right[1:]]
        if isinstance(node, ast.Subscript):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return [*self._path(node.value), key.value]
            raise self.fail(key, 'a key in [...] must be a string, as in config["batch-size"]')
        raise self.fail(node, "expected a name such as config.lr or status", _NAMES_HELP)

    def _is_path(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return True
        if isinstance(node, ast.Attribute):
            return self._is_path(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._is_path(node.left) and self._is_path(node.right)
        return False

    # -- expressions ----------------------------------------------------------------------

    def compile(self, node: ast.expr) -> Getter:
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.compile(node.operand)
            return lambda row: not inner(row)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) or (
            isinstance(node, ast.BinOp) and self._is_path(node)
        ):
            constant = self._named_constant(node)
            if constant is not None:
                value = constant[0]
                return lambda row: value
            return self.name(node).get
        literal = self.literal(node)
        return lambda row: literal

    def _named_constant(self, node: ast.expr) -> tuple[object] | None:
        if isinstance(node, ast.Name) and node.id.lower() in _CONSTANT_NAMES:
            return (_CONSTANT_NAMES[node.id.lower()],)
        return None

    def literal(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant) and isinstance(
            node.value, (int, float, str, bool, type(None))
        ):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.literal(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return [self.literal(item) for item in node.elts]
        constant = self._named_constant(node)
        if constant is not None:
            return constant[0]
        kind = _NODE_NAMES.get(type(node).__name__, type(node).__name__)
        allowed = "comparisons, and/or/not, names and literals"
        raise self.fail(node, f"{kind} is not allowed (only {allowed})", _NAMES_HELP)

    def operand(self, node: ast.expr, other: ast.expr) -> Getter:
        """One side of a comparison; a string meets a time or duration field as a number."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            partner = self._field_of(other)
            if partner in _TIME_FIELDS:
                stamp = self._timestamp(node)
                return lambda row: stamp
            if partner == "duration":
                seconds = self._seconds(node)
                return lambda row: seconds
        return self.compile(node)

    def _field_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name) and node.id in FIELDS:
            return node.id
        return None

    def _timestamp(self, node: ast.Constant) -> float:
        try:
            return datetime.fromisoformat(str(node.value).strip()).timestamp()
        except ValueError:
            raise self.fail(node, "not a date: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from None

    def _seconds(self, node: ast.Constant) -> float:
        match = _DURATION.match(str(node.value))
        if not match:
            raise self.fail(node, "not a duration: use seconds or '90s', '5m', '2h', '1d'")
        return float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]

    def _compare(self, node: ast.Compare) -> Getter:
        operands = [node.left, *node.comparators]
        steps: list[tuple[Callable[[Any, Any], bool], Getter, Getter]] = []
        for i, op in enumerate(node.ops):
            test = _OPERATORS.get(type(op))
            if test is None:
                raise self.fail(node, f"the operator {type(op).__name__} is not supported")
            left = self.operand(operands[i], operands[i + 1])
            right = self.operand(operands[i + 1], operands[i])
            steps.append((test, left, right))
        return lambda row: all(test(left(row), right(row)) for test, left, right in steps)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _comparable(a: object, b: object) -> bool:
    if a is None or b is None:
        return False
    if _number(a) and _number(b):
        return not (math.isnan(a) or math.isnan(b))
    return type(a) is type(b) and isinstance(a, (str, bool))


def _equal(a: object, b: object) -> bool:
    if _number(a) and _number(b):
        return bool(a == b)
    return (type(a) is type(b) and bool(a == b)) or (a is None and b is None)


def _contains(item: object, container: object) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(_equal(item, value) for value in container)
    return False


_OPERATORS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: _equal,
    ast.NotEq: lambda a, b: not _equal(a, b),
    ast.Lt: lambda a, b: _comparable(a, b) and a < b,
    ast.LtE: lambda a, b: _comparable(a, b) and a <= b,
    ast.Gt: lambda a, b: _comparable(a, b) and a > b,
    ast.GtE: lambda a, b: _comparable(a, b) and a >= b,
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}


def compile_where(text: str, known: Known | None = None) -> Getter:
    """A predicate over listing rows; raises :class:`QueryError` pointing at the bad part."""
    tree, flat = _parse(text, "--where expression")
    predicate = _Compiler(flat, "--where expression", known).compile(tree)
    return lambda row: bool(predicate(row))


def parse_name(text: str, what: str = "name", known: Known | None = None) -> Name:
    """One name, as ``--sort`` and ``--columns`` take them (``metrics.acc.max``, or a bare
    ``acc`` that ``known`` resolves)."""
    tree, flat = _parse(text.strip(), what)
    return _Compiler(flat, what, known).name(tree)


def parse_sort(text: str, known: Known | None = None) -> list[tuple[Name, bool]]:
    """``"-metrics.acc.max,name"`` -> [(name, descending), ...]."""
    keys = []
    for part in text.split(","):
        part = part.strip()
        descending = part.startswith("-")
        keys.append((parse_name(part.lstrip("-+"), "--sort key", known), descending))
    return keys


def parse_columns(text: str, known: Known | None = None) -> list[Name]:
    return [parse_name(part, "--columns name", known) for part in text.split(",") if part.strip()]


def _sort_value(value: object) -> tuple[int, float | str]:
    if _number(value) and not math.isnan(value):
        return 0, value
    if isinstance(value, bool):
        return 0, int(value)
    if isinstance(value, str):
        return 1, value
    return 2, repr(value)


def sort_rows(items: list[T], keys: list[tuple[Name, bool]], row_of: Callable[[T], Row]) -> None:
    """Sort ``items`` in place by ``keys``; runs missing a key come last either way."""
    for name, descending in reversed(keys):
        present = [item for item in items if name.get(row_of(item)) is not None]
        missing = [item for item in items if name.get(row_of(item)) is None]
        present.sort(key=lambda item: _sort_value(name.get(row_of(item))), reverse=descending)
        items[:] = present + missing
