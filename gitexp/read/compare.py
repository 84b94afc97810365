"""Comparing several runs side by side: one column per run, one row per field, best marked.

Each metric's direction comes from ``gitexp.define_metric(name, goal=...)`` stored in the
runs (``run.json`` ``extra.metric_definitions``; names may be globs such as ``val/*``),
else from its name (model/summary.py's ``MINIMIZE_WORDS``, ``MAXIMIZE_WORDS``); a metric
matching neither, such as a learning rate, gets no best mark.  Each cell is the run's
summary value, the one ``gitexp ls`` and ``gitexp.Api`` show (model/summary.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TypeGuard

from gitexp.model import config as configmod
from gitexp.model import history, values

# Re-exported: commands, the sweep and the verdict read goals through this module.
from gitexp.model.summary import MAXIMIZE as MAXIMIZE
from gitexp.model.summary import MINIMIZE as MINIMIZE
from gitexp.model.summary import MetricDefinition as MetricDefinition
from gitexp.model.summary import default_goal as default_goal
from gitexp.model.summary import definition_for
from gitexp.read.runview import RunView
from gitexp.render.series import is_histogram

_ALWAYS_SHOWN = ("status", "duration")


@dataclass
class Row:
    section: str  # "run", "config" or "metrics"
    key: str
    values: list[object]
    differs: bool
    goal: str | None = None
    goal_source: str | None = None  # "declared" or "default"
    best: list[int] = field(default_factory=list)


def declared_definitions(views: list[RunView]) -> dict[str, MetricDefinition]:
    """Metric definitions of all runs; the first run declaring a name wins."""
    merged: dict[str, MetricDefinition] = {}
    for view in views:
        defs = view.info.extra.get("metric_definitions")
        if isinstance(defs, dict):
            for name, definition in defs.items():
                if isinstance(definition, dict):
                    merged.setdefault(str(name), definition)
    return merged


def goal_of(key: str, defs: dict[str, MetricDefinition]) -> tuple[str | None, str | None]:
    """(goal, "declared" | "default") for a metric, or (None, None)."""
    declared = definition_for(key, defs).get("goal")
    if isinstance(declared, str) and declared in (MINIMIZE, MAXIMIZE):
        return declared, "declared"
    guessed = default_goal(key)
    return guessed, ("default" if guessed else None)


def _number(value: object) -> TypeGuard[int | float]:
    return values.is_number(value) and not (isinstance(value, float) and math.isnan(value))


def best_indices(cells: list[object], goal: str | None) -> list[int]:
    numbers = [(i, v) for i, v in enumerate(cells) if _number(v)]
    if goal is None or len(numbers) < 2:
        return []
    pick = min if goal == MINIMIZE else max
    best = pick(v for _, v in numbers)
    return [i for i, v in numbers if v == best]


def _same(cells: list[object]) -> bool:
    first = cells[0]
    for cell in cells[1:]:
        both_nan = isinstance(first, float) and isinstance(cell, float) and first != first
        if not both_nan and (type(cell) is not type(first) or cell != first):
            return False
    return True


def _run_field(view: RunView, name: str) -> object:
    info = view.info
    if name == "baseline":
        return (info.baseline or "")[:7] + ("+" if info.dirty else "") or None
    if name == "tags":
        return list(info.tags)
    return getattr(info, name)


def compare(views: list[RunView], all_rows: bool = False) -> list[Row]:
    """Rows of the comparison: run fields, config keys, metrics (with goals and best)."""
    rows: list[Row] = []
    if not views:
        return rows
    for name in ("status", "duration", "tags", "group", "branch", "baseline", "notes"):
        cells = [_run_field(view, name) for view in views]
        differs = not _same(cells)
        if name in _ALWAYS_SHOWN or differs or (all_rows and any(c for c in cells)):
            rows.append(Row("run", name, cells, differs))
    flat = [configmod.flatten_config(view.config) for view in views]
    for key in _keys(flat):
        cells = [f.get(key) for f in flat]
        differs = not _same(cells)
        if differs or all_rows:
            rows.append(Row("config", key, cells, differs))
    defs = declared_definitions(views)
    metric_keys = _keys([view.summary for view in views])
    for key in metric_keys:
        if any(
            is_histogram(value) or history.is_media(value)
            for value in (view.summary.get(key) for view in views)
        ):
            continue  # a distribution or a picture has no single best value; reports draw them
        goal, source = goal_of(key, defs)
        # Each run's summary, as ls and the read API show it (model/summary.py's rule).
        cells = [view.summary.get(key) for view in views]
        differs = not _same(cells)
        if differs or all_rows:
            rows.append(
                Row("metrics", key, cells, differs, goal, source, best_indices(cells, goal))
            )
    return rows


def _keys(dicts: list[dict[str, object]]) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return list(keys)


def rows_json(rows: list[Row]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]
