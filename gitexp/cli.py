"""The ``gitexp`` command line: parse, call one command, turn errors into exit codes.

Exit codes (docs/cli.md): 0 success; a recorded command's own code for ``gitexp run``;
2 usage; 3 not a git repository; 4 config; 5 unknown or ambiguous run; 6 repository
state; 7 run format; 70 internal error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gitexp._version import __version__
from gitexp.errors import EXIT_INTERNAL, GitexpError

COMMANDS = ("run", "ls", "show", "diff", "tag", "note", "rename", "demo")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="gitexp",
        description="Record every training run as a git commit on a hidden ref, then list, "
        "compare and share runs with git.",
    )
    parser.add_argument("--version", action="version", version=f"gitexp {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"gitexp.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except GitexpError as exc:
        print(f"gitexp: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gitexp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0  # `gitexp ls | head`: the reader has seen enough
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            "gitexp: internal error (a bug in gitexp); please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
