"""``gitexp pull [REMOTE [RUN...]]``: runs from a git remote, their artifacts from DVC's."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_progress import progress_for
from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.share.aliassync import pull_aliases
from gitexp.share.pull import pull_runs
from gitexp.share.remotes import default_remote, print_report

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "pull",
        help="fetch runs from a git remote, their artifacts from the DVC remote",
        description="Fetch a remote's runs through `git fetch` into "
        "refs/remotes/<remote>/gitexp/runs/, create the new ones here and fast-forward the "
        "ones the remote extended (a run whose history differs on the two sides is "
        "reported and left alone, and so is a finished run the remote changed other than "
        "by an edit or a resumption; local runs are never deleted), then download their "
        "artifacts into the DVC cache. Exits 9 if anything failed.",
    )
    parser.add_argument(
        "remote", nargs="?", metavar="REMOTE", help="git remote name or URL (default: as git)"
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="pull only these runs")
    parser.add_argument(
        "--dvc-remote", metavar="NAME", help="the DVC remote for artifacts (default: DVC's)"
    )
    parser.add_argument(
        "--no-artifacts",
        action="store_true",
        help="fetch the runs only; `gitexp restore` downloads artifacts when needed",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_example(parser, "gitexp pull", "gitexp pull origin 3kq9x2a --no-artifacts")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        root = repo.root
    remote = args.remote or default_remote(root, for_push=False)
    report = pull_runs(
        root,
        remote,
        args.runs or None,
        args.dvc_remote,
        not args.no_artifacts,
        say=say,
        progress=progress_for(args.json),
    )
    if not args.runs:  # every run: the registry's aliases come with them
        with open_repo() as repo:
            report.aliases = pull_aliases(repo, remote)
    return print_report(report, "fetched", args.json, print_json)
