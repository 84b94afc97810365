"""``gitexp ls``: the runs of this repository, newest first."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.model.ids import SHORT_ID_LENGTH
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.query import Name, parse_columns
from gitexp.read.selection import known_names, select
from gitexp.render.cells import fmt_duration, fmt_time, fmt_value
from gitexp.render.tables import Column, render
from gitexp.render.terminal import colour_enabled, is_terminal, paint, status_style, table_width
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.model.shapes import ListingRow

DEFAULT_LIMIT = 30
MAX_VARYING_COLUMNS = 6  # per kind (config, metrics); --json carries every key


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "ls",
        help="list runs, newest first",
        description=textwrap.fill(
            "List the runs of this repository, newest first, with the config keys "
            "and summary metrics that differ between the listed runs. --where filters with a "
            "small expression language: comparisons (== != < <= > >= in, not in), and/or/not, "
            "literals, and the names config.KEY, metrics.KEY[.last|.min|.max], id, name, status, "
            "tags, group, branch, baseline, dirty, exit_code, command, start, end, duration; "
            "a bare KEY means config.KEY or metrics.KEY when the runs have only one of them "
            "(see docs/cli.md). The table fits the terminal (COLUMNS): columns that do not "
            "fit are left out with a note on stderr.",
            88,
        ),
    )
    parser.add_argument(
        "-n",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the N newest runs (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--all", action="store_true", help="show every run")
    parser.add_argument(
        "--where",
        metavar="EXPR",
        help="show only the runs for which EXPR is true, e.g. "
        "'config.lr < 0.01 and metrics.accuracy.max > 0.9 and status == \"finished\"'",
    )
    parser.add_argument(
        "--sort",
        metavar="KEY",
        help="order by KEY (a name as in --where), -KEY for descending; several keys "
        "separated by commas; runs without the key come last",
    )
    parser.add_argument(
        "--columns",
        metavar="NAMES",
        help="show exactly these columns, comma separated (e.g. name,config.lr,metrics.loss.min)",
    )
    parser.add_argument(
        "--group", metavar="G", help="show only the runs of group G (a DDP job, a sweep)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_example(
        parser,
        "gitexp ls -n 10",
        "gitexp ls --where 'config.lr < 0.01 and status == \"finished\"' --sort -metrics.acc.max",
        "gitexp ls --columns name,config.lr,metrics.loss.min --sort metrics.loss.min",
        "gitexp ls --sort loss --columns name,lr,loss.min   # bare names, when unambiguous",
        "gitexp ls --json | jq '.[0].metrics'",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        every = list_runs(repo)
        if args.group is not None:
            every = [entry for entry in every if entry.row.get("group") == args.group]
        runs = select(repo, every, args.where, args.sort, args.columns)
        known = known_names(every)
    shown = runs if args.all or args.n <= 0 else runs[: args.n]
    if args.json:
        print_json([dict(entry.row, id=entry.id, commit=entry.commit.decode()) for entry in shown])
        return 0
    if not every and args.group is not None:
        print(f"No run in group {args.group!r}.")
        return 0
    if not every:
        print("No runs yet. Record one with: gitexp run -- python train.py")
        return 0
    if not runs:
        print(f"No run matches --where (of {plural(len(every), 'run')}).")
        return 0
    columns = (
        listed_columns(shown, parse_columns(args.columns, known))
        if args.columns
        else table_columns(shown)
    )
    fitted = render(columns, table_width(), colour_enabled())
    print(fitted.text)
    if is_terminal():
        for line in legend(fitted.kept):
            print(paint(line, "dim", colour_enabled()))
    if len(shown) < len(runs):
        print(f"({plural(len(runs) - len(shown), 'more run')} not shown; use -n N or --all)")
    if fitted.left_out:
        say(left_out_note(fitted.left_out, table_width(), fitted.needed))
    return 0


# Each marker a table can show, and what it means; printed under the table (on a
# terminal) only for the markers that appear in it.
LEGEND = (
    ("+", "+ after a baseline: the run started with uncommitted changes (kept in its snapshot)"),
    ("crashed?", "crashed?: the run's recorder is gone; the next gitexp command marks it crashed"),
)


def legend(shown: list[Column]) -> list[str]:
    """The meanings of the markers in the columns shown (a left-out column shows none)."""
    baselines = [cell for c in shown if c.header.strip() == "baseline" for cell in c.cells]
    statuses = {cell for c in shown if c.header.strip() == "status" for cell in c.cells}
    dirty = any(cell.endswith("+") for cell in baselines)
    return [text for marker, text in LEGEND if (marker == "+" and dirty) or marker in statuses]


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
    return entry.get("last") if isinstance(entry, dict) else entry


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
    config_keys = varying_keys(rows, "config", lambda v: v)[:MAX_VARYING_COLUMNS]
    metric_keys = varying_keys(rows, "metrics", _last)[:MAX_VARYING_COLUMNS]
    columns = [
        Column("id", [entry.id[:SHORT_ID_LENGTH] for entry in runs], shrink=False),
        Column("name", [entry.name for entry in runs]),
    ]
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
        cells = [fmt_value((row.get("config") or {}).get(key)) for row in rows]
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
