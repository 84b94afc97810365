"""``gitexp ls``: the runs of this repository, newest first."""

from __future__ import annotations

import argparse
import textwrap

from gitexp.cli_support import add_example, add_project_option, open_repo, print_json, say
from gitexp.read.listing import collector_paused, list_runs, listed
from gitexp.read.projects import in_project, with_projects
from gitexp.read.selection import known_names, select
from gitexp.render.runs_table import left_out_note, legend, listed_columns, table_columns
from gitexp.render.tables import render
from gitexp.render.terminal import colour_enabled, is_terminal, paint, table_width
from gitexp.render.words import plural
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers

DEFAULT_LIMIT = 30


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
    add_project_option(parser)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_example(
        parser,
        "gitexp ls -n 10",
        "gitexp ls --project lr_project --sort -acc",
        "gitexp ls --where 'config.lr < 0.01 and status == \"finished\"' --sort -metrics.acc.max",
        "gitexp ls --columns name,config.lr,metrics.loss.min --sort metrics.loss.min",
        "gitexp ls --sort loss --columns name,lr,loss.min   # bare names, when unambiguous",
        "gitexp ls --json | jq '.[0].metrics'",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # The collector stays off to the end, not only while listing: after a --where over
    # 100,000 runs their decoded rows are alive, and the next collection (tabulate's
    # import sets one off) walked them all, ~0.3 s.  Rows hold no cycles.
    with collector_paused():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        every = listed(list_runs(repo), say)
        if args.group is not None:
            every = [entry for entry in every if entry.row.get("group") == args.group]
        # Only the rows a filter reads, or the table shows, are decoded: `ls -n 20` over
        # 100,000 runs decodes 20 rows (select fills in projects where it filters).
        every = in_project(repo, every, args.project)
        runs = select(repo, every, args.where, args.sort, args.columns)
        shown = with_projects(repo, runs if args.all or args.n <= 0 else runs[: args.n])
        if args.json:
            # `project`: a run that names none is in the repository's (read/projects.py),
            # as gitexp.Api() says.
            print_json(
                [dict(entry.row, id=entry.id, commit=entry.commit.decode()) for entry in shown]
            )
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
    if args.columns:
        # The query language (ast, dataclasses) only where names are parsed: a plain
        # `ls` over 1,000 runs is mostly Python's start-up and imports.
        from gitexp.read.query import parse_columns

        columns = listed_columns(shown, parse_columns(args.columns, known_names(every)))
    else:
        columns = table_columns(shown)
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
