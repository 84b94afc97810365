"""``gitexp projects``: the projects of this repository's runs, with how many runs each."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.read.listing import list_runs
from gitexp.read.projects import default_project, project_counts
from gitexp.read.trust import listed
from gitexp.render.cells import fmt_time, printable, table

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "projects",
        help="list the projects of the runs, with their run counts",
        description="List the projects the runs belong to (init(project=...)), most "
        "recently used first. A run that names none is in the repository's default "
        "project: git config gitexp.project, else the origin remote's repository name, "
        "else the folder's name.",
    )
    parser.add_argument("--json", action="store_true", help="print the projects as JSON")
    add_example(parser, "gitexp projects", "gitexp ls --project lr_project")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        counts = project_counts(repo, listed(list_runs(repo), say))
        default = default_project(repo)
    if args.json:
        print_json(
            [
                {"project": name, "runs": n, "latest_start": latest, "default": name == default}
                for name, n, latest in counts
            ]
        )
        return 0
    if not counts:
        print("No runs yet. Record one with: gitexp run -- python train.py")
        return 0
    rows = [
        [printable(name) + (" (default)" if name == default else ""), n, fmt_time(latest)]
        for name, n, latest in counts
    ]
    print(table(rows, ["project", "runs", "latest run"]))
    return 0
