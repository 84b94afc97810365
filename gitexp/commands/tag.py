"""``gitexp tag RUN +TAG -TAG ...``: add and remove a finished run's tags."""

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
        "tag",
        help="add (+TAG) or remove (-TAG) tags of a run",
        description="Change a finished run's tags by appending a commit to its history "
        "(a fast-forward: nothing recorded is rewritten). TAG or +TAG adds, -TAG removes.",
    )
    parser.add_argument("run", metavar="RUN")
    parser.add_argument("changes", nargs=argparse.REMAINDER, metavar="+TAG|-TAG")
    add_example(parser, "gitexp tag latest +best -draft", "gitexp tag 3kq9x2a +paper")
    parser.set_defaults(func=main)


def parse_changes(changes: list[str]) -> Edit:
    edit = Edit()
    for change in changes:
        if change == "--":
            continue
        name = change[1:] if change[:1] in "+-" else change
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"invalid tag {change!r}", "Write +TAG to add, -TAG to remove.")
        (edit.remove_tags if change.startswith("-") else edit.add_tags).append(name)
    if not edit.add_tags and not edit.remove_tags:
        raise UsageError("no tags given", "Example: gitexp tag latest +best -draft")
    return edit


def main(args: argparse.Namespace) -> int:
    edit = parse_changes(args.changes)
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        info, _commit = apply_edit(repo, entry, edit)
    tags = printable(", ".join(info.tags) or "(none)")
    print(f"{short_id(info.id)} {printable(info.name)}: tags {tags}")
    return 0
