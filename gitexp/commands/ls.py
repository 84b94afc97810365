"""``gitexp ls``: the runs of this repository, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from gitexp.adapters.git import GitRepo
from gitexp.cli_support import add_example, fmt_duration, fmt_time, fmt_value, print_json, table
from gitexp.core.ids import SHORT_ID_LENGTH
from gitexp.core.listing import RunEntry, list_runs
from gitexp.core.recorder import recover_stale_runs

DEFAULT_LIMIT = 30
MAX_VARYING_COLUMNS = 6  # per kind (config, metrics); --json carries every key


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ls",
        help="list runs, newest first",
        description="List the runs of this repository, newest first, with the config keys "
        "and summary metrics that differ between the listed runs.",
    )
    parser.add_argument(
        "-n",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the N newest runs (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--all", action="store_true", help="show every run")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_example(parser, "gitexp ls -n 10", "gitexp ls --json | jq '.[0].metrics'")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with GitRepo.discover() as repo:
        recover_stale_runs(repo)
        runs = list_runs(repo)
    shown = runs if args.all or args.n <= 0 else runs[: args.n]
    if args.json:
        print_json([dict(entry.row, id=entry.id, commit=entry.commit.decode()) for entry in shown])
        return 0
    if not runs:
        print("No runs yet. Record one with: gitexp run -- python train.py")
        return 0
    print(render_table(shown))
    if len(shown) < len(runs):
        print(f"({len(runs) - len(shown)} older runs not shown; use -n N or --all)")
    return 0


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
    headers = ["id", "name", "status", "start", "duration", "baseline"]
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
            entry.status,
            fmt_time(start),
            fmt_duration(duration),
            baseline,
        ]
        line += [fmt_value((row.get("config") or {}).get(k)) for k in config_keys]
        line += [fmt_value(_last((row.get("metrics") or {}).get(k))) for k in metric_keys]
        body.append(line)
    return table(body, headers)
