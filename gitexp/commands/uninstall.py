"""``gitexp uninstall``: undo ``gitexp install`` exactly (your own hooks put back)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, show_report
from gitexp.git.repo import GitRepo
from gitexp.share import hooks

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "uninstall",
        help="undo gitexp install: remove its hooks and fetch refspecs",
        description="Remove gitexp's hooks, putting back the hooks they had moved aside "
        "byte for byte, and remove the fetch refspecs `gitexp install` added. Runs and "
        "the mirrors of remote runs stay.",
    )
    parser.add_argument("--json", action="store_true", help="print what changed as JSON")
    add_example(parser, "gitexp uninstall")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with GitRepo.discover() as repo:
        root = repo.root
    report = hooks.uninstall(root)
    show_report(report.as_json(), report.lines(), args.json)
    return 0
