"""``gitexp branch RUN NAME``: an ordinary git branch holding a run's code."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo, say
from gitexp.model.ids import short_id
from gitexp.read.resolve import find_run
from gitexp.read.runview import load_run
from gitexp.reproduce.branch import branch_from_run
from gitexp.reproduce.imported import refuse_imported

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "branch",
        help="create a git branch holding a run's code",
        description="Create the git branch NAME whose tip holds the run's code (its snapshot, "
        "uncommitted and untracked files included, without the .gitexp/ metadata), parented "
        "on the run's baseline commit. Does not switch to it and never moves an existing "
        "branch.",
    )
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, name, latest or latest~N")
    parser.add_argument("name", metavar="NAME", help="the new branch's name")
    add_example(
        parser,
        "gitexp branch brisk-falcon-07 good-lr && git switch good-lr",
        "gitexp branch latest try-again",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        view = load_run(repo, entry)
        refuse_imported(view, "branch from")
        result = branch_from_run(repo, view, args.name)
    how = "a new commit on" if result.new_commit else "its baseline commit, which already has"
    say(
        f"created branch {args.name} at {result.commit.decode()[:10]}: "
        f"{how} the code of run {short_id(entry.id)} {view.info.name}"
    )
    skipped = view.skipped
    if skipped:
        left = ", ".join(f"{item.get('path')} ({item.get('reason')})" for item in skipped[:5])
        say(f"not in the branch (left out of the run's snapshot): {left}")
    say(f"continue from it with: git switch {args.name}")
    return 0
