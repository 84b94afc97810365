"""``gitexp export``: runs as a CSV or Parquet table (one row per run, or a long history)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_project_option, open_repo, say, terminal_text
from gitexp.importers import export
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project, with_projects
from gitexp.read.resolve import resolve
from gitexp.read.selection import select
from gitexp.read.trust import usable
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export runs as a CSV or Parquet table",
        description="Export runs as a table: one row per run (id, name, project, status, "
        "start, end, group, tags, baseline, each config key as config.KEY, each summary "
        "value as summary.KEY), or with --history a long table of (run, name, step, key, "
        "value). CSV needs nothing more; Parquet needs pandas and pyarrow "
        "(pip install 'gitexp[pandas]' pyarrow).",
    )
    parser.add_argument(
        "runs", nargs="*", metavar="RUN", help="the runs to export (default: every run)"
    )
    parser.add_argument(
        "--format",
        choices=export.FORMATS,
        help="csv or parquet (default: from -o's suffix, else csv)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (default for csv: standard output)"
    )
    parser.add_argument("--where", metavar="EXPR", help="choose runs as `gitexp ls --where`")
    add_project_option(parser)
    parser.add_argument(
        "--history",
        nargs="+",
        metavar="KEY",
        help="a long table of the logged values of KEY... per run and step instead",
    )
    add_example(
        parser,
        "gitexp export -o runs.csv",
        "gitexp export --project p --where 'status == \"finished\"' -o runs.parquet",
        "gitexp export latest~1 latest --history loss acc -o history.csv",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    fmt = export.format_of(args.format, args.output)
    export.check_output(args.output, fmt)
    with open_repo() as repo:
        runs = in_project(repo, with_projects(repo, list_runs(repo)), args.project)
        if args.runs:
            chosen = [resolve(text, runs) for text in args.runs]
            if args.where:
                chosen = select(repo, chosen, args.where)
        else:
            chosen = select(repo, runs, args.where)
        chosen = usable(repo, chosen, say)
        if args.history:
            columns, rows = export.history_table(repo, chosen, args.history)
        else:
            columns, rows = export.runs_table(repo, chosen)
    what = plural(len(rows), "row")
    if fmt == "parquet":
        export.write_parquet(args.output, columns, rows)
    elif args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(export.csv_text(columns, rows))
    else:
        text = export.csv_text(columns, rows)
        # Names and values come from the runs: a terminal gets their control characters
        # escaped; a pipe or a file gets the CSV as it is.
        sys.stdout.write(terminal_text(text) if sys.stdout.isatty() else text)
        return 0
    say(f"wrote {what} of {plural(len(chosen), 'run')} to {args.output}")
    return 0
