"""The runs table of ``gitexp ls``: which columns, in which order, and which stay longest
when the terminal is narrow; the legend of its markers."""

from __future__ import annotations

from collections.abc import Callable

from gitexp.model.ids import SHORT_ID_LENGTH, short_ids
from gitexp.model.summary import row_value
from gitexp.read.listing import RunEntry
from gitexp.render.cells import fmt_duration, fmt_time, fmt_value, table
from gitexp.render.tables import Column
from gitexp.render.terminal import status_style
from gitexp.render.words import plural
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Literal

    from gitexp.model.shapes import ListingRow
    from gitexp.read.query import Name
    from gitexp.sweep.results import Ranking

MAX_VARYING_COLUMNS = 6  # per kind (config, metrics); --json carries every key


# Each marker a table can show, and what it means; printed under the table (on a
# terminal) only for the markers that appear in it.
LEGEND = (
    ("+", "+ after a baseline: the run started with uncommitted changes (kept in its snapshot)"),
    ("crashed?", "crashed?: the run's recorder is gone; the next gitexp command marks it crashed"),
    (
        "!",
        "! after a config value: the script did not take the -p/--config override; the value "
        "is what it reported (gitexp show tells more)",
    ),
    (
        "?",
        "? after a config value: an override the script neither read through gitexp.config "
        "nor reported; unverified",
    ),
)
# The marker after a config value, by the override's verdict (model/overrides.py).
_VERDICT_MARKS = {"unapplied": "!", "unverified": "?"}


def legend(shown: list[Column]) -> list[str]:
    """The meanings of the markers in the columns shown (a left-out column shows none)."""
    baselines = [cell for c in shown if c.header.strip() == "baseline" for cell in c.cells]
    statuses = {cell for c in shown if c.header.strip() == "status" for cell in c.cells}
    dirty = any(cell.endswith("+") for cell in baselines)
    configs = [cell for c in shown if c.group == "config" for cell in c.cells]
    marks = {mark for mark in _VERDICT_MARKS.values() if any(c.endswith(mark) for c in configs)}
    return [
        text
        for marker, text in LEGEND
        if (marker == "+" and dirty) or marker in statuses or marker in marks
    ]


def config_cell(row: ListingRow, key: str) -> str:
    """A config value, marked when it was an override the script did not take (or may not)."""
    text = fmt_value((row.get("config") or {}).get(key))
    verdict = (row.get("unapplied") or {}).get(key)
    return text + _VERDICT_MARKS.get(str(verdict), "")


def left_out_note(names: list[str], width: int | None, needed: int) -> str:
    listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return (
        f"{plural(len(names), 'column')} left out to fit {plural(width or 0, 'character')} "
        f"({listed}); "
        f"see them with --columns NAMES, --json, or a wider terminal (COLUMNS={needed})"
    )


def _cell(name: Name, row: ListingRow) -> str:
    value = name.get(row)
    if name.kind == "field" and isinstance(value, (int, float, type(None))):
        if name.key in ("start", "end"):
            return fmt_time(value)
        if name.key == "duration":
            return fmt_duration(value)
    if name.kind == "field" and name.key == "baseline":
        return str(value or "")[:SHORT_ID_LENGTH]
    if name.kind == "field" and name.key == "tags" and isinstance(value, list):
        return ", ".join(str(tag) for tag in value)
    if name.kind == "config":
        return config_cell(row, name.key)
    return fmt_value(value)


def listed_columns(runs: list[RunEntry], names: list[Name]) -> list[Column]:
    """Exactly the --columns the user named, headed by their qualified names; the
    rightmost go first when the terminal is too narrow."""
    rows: list[ListingRow] = [{**entry.row, "id": entry.id} for entry in runs]
    return [
        Column(
            name.label,
            [_cell(name, row) for row in rows],
            keep=len(names) - index,
            full_name=name.label,
            style=status_style if name.label == "status" else None,
        )
        for index, name in enumerate(names)
    ]


def varying_keys(
    rows: list[ListingRow],
    field: Literal["config", "metrics"],
    pick: Callable[[object], object],
) -> list[str]:
    """Keys of ``row[field]`` whose values are not the same in every row."""
    keys: list[str] = []
    for row in rows:
        for key in row.get(field) or {}:
            if key not in keys:
                keys.append(key)
    varying = []
    for key in keys:
        seen = {repr(pick((row.get(field) or {}).get(key))) for row in rows}
        if len(seen) > 1:
            varying.append(key)
    return varying


def _last(entry: object) -> object:
    return row_value(entry)  # the summary value: one rule for every reader


# Which columns stay when the terminal is narrow (higher stays longer): the run and its
# status, then config and metrics alternately from the first, then the group, then the
# times, and the baseline last.
_KEEP_STATUS = 900
_KEEP_VARYING = 500  # minus 2 per position: metric i, then config i, then metric i + 1
_KEEP_GROUP = 300
_KEEP_DURATION = 200
_KEEP_START = 150
_KEEP_BASELINE = 100


def table_columns(runs: list[RunEntry]) -> list[Column]:
    """The default ``ls`` table: the run, then the config and metrics that differ."""
    rows = [entry.row for entry in runs]
    shown = short_ids(entry.id for entry in runs)  # grown where two would read alike
    config_keys = varying_keys(rows, "config", lambda v: v)[:MAX_VARYING_COLUMNS]
    metric_keys = varying_keys(rows, "metrics", _last)[:MAX_VARYING_COLUMNS]
    columns = [
        Column("id", [shown[entry.id] for entry in runs], shrink=False),
        Column("name", [entry.name for entry in runs]),
    ]
    if len({row.get("project") for row in rows}) > 1:  # filled in by read/projects.py
        projects = [str(row.get("project") or "") for row in rows]
        columns.append(Column("project", projects, keep=_KEEP_GROUP, full_name="project"))
    if any(row.get("group") for row in rows):
        group = [str(row.get("group") or "") for row in rows]
        columns.append(Column("group", group, keep=_KEEP_GROUP, full_name="group"))
    columns += [
        Column("status", [e.status for e in runs], _KEEP_STATUS, style=status_style),
        Column("start", [fmt_time(row.get("start")) for row in rows], _KEEP_START, shrink=False),
        Column("duration", [fmt_duration(_duration(row)) for row in rows], _KEEP_DURATION),
        Column("baseline", [_baseline(row) for row in rows], _KEEP_BASELINE, shrink=False),
    ]
    for index, key in enumerate(config_keys):
        cells = [config_cell(row, key) for row in rows]
        keep = _KEEP_VARYING - 2 * index - 1
        columns.append(Column(key, cells, keep, group="config", full_name=f"config.{key}"))
    for index, key in enumerate(metric_keys):
        cells = [fmt_value(_last((row.get("metrics") or {}).get(key))) for row in rows]
        keep = _KEEP_VARYING - 2 * index
        columns.append(Column(key, cells, keep, group="metrics", full_name=f"metrics.{key}"))
    return columns


def _duration(row: ListingRow) -> float | None:
    start, end = row.get("start"), row.get("end")
    if isinstance(end, (int, float)) and isinstance(start, (int, float)):
        return end - start
    return None


def _baseline(row: ListingRow) -> str:
    baseline = str(row.get("baseline") or "")[:SHORT_ID_LENGTH]
    return baseline + "+" if row.get("dirty") and baseline else baseline


def ranked_table(ranking: Ranking, varying: list[str]) -> str:
    """A sweep's runs, best first, with the parameters that vary and the ranking metric."""
    metric, descending = ranking.metric, ranking.descending
    label = f"{metric} [{'max' if descending else 'min'}]" if metric else None
    headers = ["name", "id", "status", "duration", *varying, *([label] if label else [])]
    rows = []
    shown = short_ids(entry.id for entry in ranking.entries)
    for entry in ranking.entries:
        config = entry.row.get("config") or {}
        start, end = entry.row.get("start"), entry.row.get("end")
        duration = end - start if isinstance(end, (int, float)) and start is not None else None
        row = [entry.name, shown[entry.id], entry.status, fmt_duration(duration)]
        row += [fmt_value(config.get(key)) for key in varying]
        if label:
            row.append(fmt_value(ranking.value(entry)))
        rows.append(row)
    return table(rows, headers)
