"""``gitexp rename RUN NAME``: give a finished run another name."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo
from gitexp.errors import UsageError
from gitexp.model.ids import short_id
from gitexp.read.resolve import find_run
from gitexp.record.edit import Edit, apply_edit
from gitexp.render.cells import printable

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "rename",
        help="rename a run",
        description="Change a finished run's name by appending a commit to its history. "
        "Names need not be unique.",
    )
    parser.add_argument("run", metavar="RUN")
    parser.add_argument("name", metavar="NAME")
    add_example(parser, "gitexp rename latest resnet50-warmup", "gitexp rename 3kq9x2a baseline-v2")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name or "\n" in name:
        raise UsageError(
            "a run name must be one non-empty line", "Example: gitexp rename latest v2"
        )
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        info, _commit = apply_edit(repo, entry, Edit(name=name))
    print(f"{short_id(info.id)} renamed to {printable(info.name)}")
    return 0
