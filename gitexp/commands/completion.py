"""``gitexp completion SHELL``: print a tab-completion script for bash, zsh or fish."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers

SHELL_NAMES = ("bash", "zsh", "fish")


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a tab-completion script for bash, zsh or fish",
        description="Print a completion script for SHELL: commands, each command's options, "
        "and run ids and names (read from refs/gitexp/runs by git when you press Tab). "
        "Save it where your shell loads completions, or source it from your shell's "
        "start-up file. Works outside a repository (run references then complete to "
        "nothing).",
    )
    parser.add_argument("shell", choices=SHELL_NAMES, metavar="SHELL", help="bash, zsh or fish")
    add_example(
        parser,
        "gitexp completion bash > ~/.local/share/bash-completion/completions/gitexp",
        'gitexp completion zsh > "${fpath[1]}/_gitexp"',
        "gitexp completion fish > ~/.config/fish/completions/gitexp.fish",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # The script describes every command: only here is the whole parser built.
    from gitexp.cli import build_parser
    from gitexp.cli_completion import SHELLS, describe

    print(SHELLS[args.shell](describe(build_parser())), end="")
    return 0
