"""``gitexp push [REMOTE [RUN...]]``: runs and their artifacts to a git remote and DVC remote."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_progress import progress_for
from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.read.listing import list_runs
from gitexp.read.resolve import resolve
from gitexp.share.aliassync import push_aliases
from gitexp.share.push import push_runs
from gitexp.share.remotes import default_remote, print_report
from gitexp.share.sweeps import push_sweeps

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.git.repo import GitRepo


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "push",
        help="push runs to a git remote, their artifacts to the DVC remote",
        description="Push runs (refs/gitexp/runs/*) to a git remote through `git push`, "
        "so your credentials and ssh setup apply, after uploading their artifacts to the "
        "repository's DVC remote. Never forced: runs only move forward. Prints what moved "
        "and what failed, run by run; exits 9 if anything failed.",
    )
    parser.add_argument(
        "remote", nargs="?", metavar="REMOTE", help="git remote name or URL (default: as git)"
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="push only these runs")
    parser.add_argument(
        "--dvc-remote", metavar="NAME", help="the DVC remote for artifacts (default: DVC's)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_example(
        parser,
        "gitexp push",
        "gitexp push origin latest brisk-falcon-07",
        "gitexp push git@github.com:me/project.git --dvc-remote s3store",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        remote = args.remote or default_remote(repo.root, for_push=True)
        selected = None
        if args.runs:
            runs = list_runs(repo)
            selected = {entry.id: entry.commit for entry in (resolve(t, runs) for t in args.runs)}
        progress = progress_for(args.json)
        report = push_runs(repo, remote, selected, args.dvc_remote, say=say, progress=progress)
        # The sweeps of the runs pushed go too (all of them with every run), so that a
        # teammate can show and resume them (docs/workflow.md#bayesian-sweeps-with-early-stopping).
        groups = None if selected is None else _groups(repo, set(selected))
        report.sweeps = push_sweeps(repo, remote, groups)
        if not args.runs:  # every run: the registry's aliases go with them
            report.aliases = push_aliases(repo, remote)
    return print_report(report, "pushed", args.json, print_json)


def _groups(repo: GitRepo, run_ids: set[str]) -> set[str]:
    return {
        str(entry.row.get("group"))
        for entry in list_runs(repo)
        if entry.id in run_ids and entry.row.get("group")
    }
