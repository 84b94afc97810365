"""``gitexp note RUN TEXT``: set a finished run's note."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo
from gitexp.model.ids import short_id
from gitexp.read.resolve import find_run
from gitexp.record.edit import Edit, apply_edit
from gitexp.render.cells import printable

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "note",
        help="set the note of a run",
        description="Replace a finished run's note by appending a commit to its history.",
    )
    parser.add_argument("run", metavar="RUN")
    parser.add_argument("text", metavar="TEXT", help='the note ("" clears it)')
    add_example(
        parser,
        'gitexp note latest "best so far; lr warmup helped"',
        'gitexp note 3kq9x2a "diverged at step 900: lr too high"',
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        info, _commit = apply_edit(repo, entry, Edit(note=args.text or None))
    print(f"{short_id(info.id)} {printable(info.name)}: note {'set' if info.notes else 'cleared'}")
    return 0
