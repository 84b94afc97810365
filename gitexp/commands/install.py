"""``gitexp install``: plain ``git push`` / ``git fetch`` move runs too (hooks, refspecs)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, say, show_report
from gitexp.errors import RepositoryStateError
from gitexp.git.repo import GitRepo
from gitexp.share import hooks
from gitexp.share.remotes import default_remote

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "install",
        help="make plain git push / git fetch move runs too (hooks and a fetch refspec)",
        description="Set this repository up so that a plain `git push` also pushes runs "
        "(after uploading their artifacts) and `git fetch` / `git pull` also fetch them, "
        "without changing what git does for branches: adds a fetch refspec per remote and "
        "the pre-push hook from gitexp's hooks/ folder; runs a fetch brings are made local "
        "by the next gitexp command. A hook "
        "of yours is kept and run first; a second install changes nothing; "
        "`gitexp uninstall` undoes it exactly.",
    )
    parser.add_argument(
        "--remote",
        action="append",
        default=[],
        metavar="NAME",
        help="set up this git remote (default: the one `git push` uses); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print what changed as JSON")
    add_example(parser, "gitexp install", "gitexp install --remote origin --remote lab")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with GitRepo.discover() as repo:
        root = repo.root
    remotes = list(args.remote)
    if not remotes:
        try:
            remotes = [default_remote(root, for_push=True)]
        except RepositoryStateError:
            say("no git remote yet: only the hooks are installed; after `git remote add`,")
            say("  run `gitexp install` again so that git fetch brings runs from it")
    report = hooks.install(root, remotes)
    show_report(report.as_json(), report.lines(), args.json)
    return 0
