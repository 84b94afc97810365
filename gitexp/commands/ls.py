"""``gitexp ls``: the runs of this repository, newest first."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from gitexp.cli_support import (
    add_example,
    fmt_duration,
    fmt_time,
    fmt_value,
    open_repo,
    print_json,
    table,
)
from gitexp.model.ids import SHORT_ID_LENGTH
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.query import Name, parse_columns
from gitexp.read.selection import select

DEFAULT_LIMIT = 30
MAX_VARYING_COLUMNS = 6  # per kind (config, metrics); --json carries every key


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ls",
        help="list runs, newest first",
        description=textwrap.fill(
            "List the runs of this repository, newest first, with the config keys "
            "and summary metrics that differ between the listed runs. --where filters with a "
            "small expression language: comparisons (== != < <= > >= in, not in), and/or/not, "
            "literals, and the names config.KEY, metrics.KEY[.last|.min|.max], id, name, status, "
            "tags, group, branch, baseline, dirty, exit_code, command, start, end, duration "
            "(see docs/cli.md).",
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
        "gitexp ls --json | jq '.[0].metrics'",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        every = list_runs(repo)
        if args.group is not None:
            every = [entry for entry in every if entry.row.get("group") == args.group]
        runs = select(repo, every, args.where, args.sort, args.columns)
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
        print(f"No run matches --where (of {len(every)} runs).")
        return 0
    print(
        render_columns(shown, parse_columns(args.columns)) if args.columns else render_table(shown)
    )
    if len(shown) < len(runs):
        print(f"({len(runs) - len(shown)} more runs not shown; use -n N or --all)")
    return 0


def _cell(name: Name, row: dict[str, Any]) -> str:
    value = name.get(row)
    if name.kind == "field" and name.key in ("start", "end"):
        return fmt_time(value)
    if name.kind == "field" and name.key == "duration":
        return fmt_duration(value)
    if name.kind == "field" and name.key == "baseline":
        return str(value or "")[:SHORT_ID_LENGTH]
    if name.kind == "field" and name.key == "tags" and isinstance(value, list):
        return ", ".join(str(tag) for tag in value)
    return fmt_value(value)


def render_columns(runs: list[RunEntry], names: list[Name]) -> str:
    """The table with exactly the --columns the user named, headed as typed."""
    body = [[_cell(name, dict(entry.row, id=entry.id)) for name in names] for entry in runs]
    return table(body, [name.label for name in names])


def varying_keys(rows: list[dict[str, Any]], field: str, pick: Any) -> list[str]:
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


def _last(entry: Any) -> Any:
    return entry.get("last") if isinstance(entry, dict) else entry


def render_table(runs: list[RunEntry]) -> str:
    rows = [entry.row for entry in runs]
    config_keys = varying_keys(rows, "config", lambda v: v)[:MAX_VARYING_COLUMNS]
    metric_keys = varying_keys(rows, "metrics", _last)[:MAX_VARYING_COLUMNS]
    grouped = any(row.get("group") for row in rows)
    headers = ["id", "name", *(["group"] if grouped else []), "status", "start", "duration"]
    headers.append("baseline")
    both = set(config_keys) & set(metric_keys)  # e.g. "lr" set in config and logged
    headers += [f"config.{k}" if k in both else k for k in config_keys]
    headers += [f"metrics.{k}" if k in both else k for k in metric_keys]
    body = []
    for entry in runs:
        row = entry.row
        start, end = row.get("start"), row.get("end")
        duration = (
            end - start
            if isinstance(end, (int, float)) and isinstance(start, (int, float))
            else None
        )
        baseline = str(row.get("baseline") or "")[:SHORT_ID_LENGTH]
        if row.get("dirty") and baseline:
            baseline += "+"
        line = [
            entry.id[:SHORT_ID_LENGTH],
            entry.name,
            *([str(row.get("group") or "")] if grouped else []),
            entry.status,
            fmt_time(start),
            fmt_duration(duration),
            baseline,
        ]
        line += [fmt_value((row.get("config") or {}).get(k)) for k in config_keys]
        line += [fmt_value(_last((row.get("metrics") or {}).get(k))) for k in metric_keys]
        body.append(line)
    return table(body, headers)
