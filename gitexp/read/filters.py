"""wandb's run filters (``{"config.lr": {"$lt": 0.05}}``) and orders, over listing rows.

``gitexp.Api().runs(filters=..., order=...)`` takes the ``--where`` language of the
command line (a string) or the MongoDB-shaped dicts the wandb public API takes, so that
an analysis notebook written for wandb runs unchanged.  Names are wandb's where they
differ from gitexp's (``summary_metrics.acc``, ``display_name``, ``state``,
``created_at``); the operators are ``$and $or $nor $not $eq $ne $lt $lte $gt $gte $in
$nin $regex $exists``.  Written by hand: the operators are a dozen lines each, and a
query library would be a dependency for that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gitexp.errors import UsageError
from gitexp.read import query

if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow

Predicate = Callable[["ListingRow"], bool]

# wandb's names for what gitexp calls otherwise; the rest pass through.
_WANDB_NAMES = {
    "display_name": "name",
    "displayName": "name",
    "state": "status",
    "created_at": "start",
    "createdAt": "start",
    "group": "group",
    "tags": "tags",
}
_PREFIXES = {"summary_metrics.": "metrics.", "summary.": "metrics.", "config.": "config."}
_HINT = (
    "filters take the --where language ('config.lr < 0.05 and metrics.acc > 0.9') or a "
    "wandb dict: {'config.lr': {'$lt': 0.05}, '$or': [...]} (docs/api.md#reading-runs)"
)


def gitexp_name(name: str) -> str:
    """A wandb field name in gitexp's words (``summary_metrics.acc`` -> ``metrics.acc``)."""
    if name in _WANDB_NAMES:
        return _WANDB_NAMES[name]
    for prefix, ours in _PREFIXES.items():
        if name.startswith(prefix):
            return ours + name[len(prefix) :]
    return name


def compile_filters(filters: str | Mapping[str, Any] | None, known: query.Known) -> Predicate:
    """A predicate over listing rows; raises UsageError naming what is wrong."""
    if filters is None:
        return lambda _row: True
    if isinstance(filters, str):
        where = query.compile_where(filters, known)
        return lambda row: bool(where(row))
    if not isinstance(filters, Mapping):
        raise UsageError(f"filters must be a string or a dict, not {type(filters).__name__}", _HINT)
    return _document(filters, known)


def _document(doc: Mapping[str, Any], known: query.Known) -> Predicate:
    parts: list[Predicate] = []
    for key, spec in doc.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(spec, list):
                raise UsageError(f"{key} takes a list of filters", _HINT)
            subs = [_document(_mapping(sub, key), known) for sub in spec]
            parts.append(_combine(key, subs))
        elif key.startswith("$"):
            raise UsageError(f"unknown filter operator {key!r} at the top level", _HINT)
        else:
            name = query.parse_name(gitexp_name(key), "filter key", known)
            parts.append(_field(name, spec, known))
    return lambda row: all(part(row) for part in parts)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} takes filters as dicts, got {value!r}", _HINT)
    return value


def _combine(op: str, subs: list[Predicate]) -> Predicate:
    if op == "$and":
        return lambda row: all(sub(row) for sub in subs)
    if op == "$or":
        return lambda row: any(sub(row) for sub in subs)
    return lambda row: not any(sub(row) for sub in subs)


def _field(name: query.Name, spec: object, known: query.Known) -> Predicate:
    if not (isinstance(spec, Mapping) and spec and all(str(k).startswith("$") for k in spec)):
        return _operator(name, "$eq", spec)  # {"config.lr": 0.1}: equality
    checks: list[Predicate] = []
    for op, operand in spec.items():
        if op == "$not":
            checks.append(_negated(_field(name, operand, known)))
        else:
            checks.append(_operator(name, str(op), operand))
    return lambda row: all(check(row) for check in checks)


def _negated(inner: Predicate) -> Predicate:
    return lambda row: not inner(row)


def _operator(name: query.Name, op: str, operand: object) -> Predicate:
    get = name.get
    if op == "$eq":
        return lambda row: _equal(get(row), operand)
    if op == "$ne":
        return lambda row: not _equal(get(row), operand)
    if op in ("$lt", "$lte", "$gt", "$gte"):
        compare = _ORDERS[op]
        return lambda row: _ordered(get(row), operand, compare)
    if op in ("$in", "$nin"):
        if not isinstance(operand, (list, tuple, set)):
            raise UsageError(f"{op} takes a list, got {operand!r}", _HINT)
        items = list(operand)

        def inside(row: ListingRow) -> bool:
            return any(_equal(get(row), item) for item in items)

        return inside if op == "$in" else _negated(inside)
    if op == "$regex":
        try:
            pattern = re.compile(str(operand))
        except re.error as exc:
            raise UsageError(
                f"$regex {operand!r} is not a regular expression: {exc}", _HINT
            ) from None
        return lambda row: isinstance(get(row), str) and bool(pattern.search(str(get(row))))
    if op == "$exists":
        return lambda row: (get(row) is not None) == bool(operand)
    raise UsageError(f"unknown filter operator {op!r}", _HINT)


_ORDERS: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
}


def _equal(value: object, operand: object) -> bool:
    if isinstance(value, list) and not isinstance(operand, list):
        return operand in value  # tags: {"tags": "baseline"} as wandb reads it
    if isinstance(value, bool) or isinstance(operand, bool):
        return type(value) is type(operand) and value == operand
    return bool(value == operand)


def _ordered(value: object, operand: object, compare: Callable[[Any, Any], bool]) -> bool:
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(operand, bool):
        return False
    if isinstance(value, numbers) and isinstance(operand, numbers):
        return compare(value, operand)
    if isinstance(value, str) and isinstance(operand, str):
        return compare(value, operand)
    return False  # a missing or differently typed value never matches an order


def order_keys(order: str | None, known: query.Known) -> list[tuple[query.Name, bool]]:
    """wandb's ``order="-summary_metrics.acc"`` (or ``+created_at``, or several comma
    separated) as ``--sort`` keys."""
    if not order:
        return []
    parts = []
    for part in order.split(","):
        part = part.strip()
        sign = "-" if part.startswith("-") else ""
        parts.append(sign + gitexp_name(part.lstrip("+-")))
    return query.parse_sort(",".join(parts), known)
