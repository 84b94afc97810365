"""Small helpers shared by the command modules: messages, examples, tables, JSON."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence

from gitexp.errors import RepositoryStateError
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from gitexp.git.repo import GitRepo

    # What ``add_subparsers`` returns; argparse names no public type for it.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


@contextlib.contextmanager
def open_repo() -> Iterator[GitRepo]:
    """The repository around the current folder, its dead runs finalized first and the
    runs a plain ``git fetch`` queued brought here.

    Every command that reads runs starts here, so a run whose recorder died is never
    shown as running (docs/format.md, "the live folder"), and a fetched run is never
    missing (share/fetched.py).
    """
    from gitexp.git.repo import GitRepo
    from gitexp.record.keeper import recover_stale_runs
    from gitexp.share.fetched import drain_pending

    with GitRepo.discover() as repo:
        recover_stale_runs(repo)
        drain_pending(repo, say)
        yield repo


def add_run_selection(parser: argparse.ArgumentParser, fallback: str, default_n: int) -> None:
    """``--where``, ``--sort`` and ``-n``: which runs a command takes when none are named.

    ``fallback`` completes "without ..., <fallback> the first N runs" in the help.
    """
    parser.add_argument("--where", metavar="EXPR", help="choose runs as `gitexp ls --where`")
    add_project_option(parser)
    parser.add_argument("--sort", metavar="KEY", help="order runs as `gitexp ls --sort`")
    parser.add_argument(
        "-n",
        type=int,
        default=default_n,
        metavar="N",
        help=f"{fallback} the first N runs (default {default_n}; 0: all)",
    )


def add_project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        metavar="P",
        help="only the runs of project P (a run naming none is in the repository's "
        "default project; see `gitexp projects`)",
    )


def say(message: str) -> None:
    """A gitexp message on stderr (stdout stays for the command's data); a run's name or
    path quoted in it cannot send control characters to the terminal."""
    from gitexp.render.cells import printable

    print(f"gitexp: {printable(message)}", file=sys.stderr, flush=True)


def terminal_text(text: str) -> str:
    """Text of several lines for the terminal: a run's control characters escaped."""
    from gitexp.render.cells import printable_lines

    return printable_lines(text)


def add_example(parser: argparse.ArgumentParser, *examples: str) -> None:
    lines = "\n".join(f"  {example}" for example in examples)
    parser.epilog = f"example{'s' if len(examples) > 1 else ''}:\n{lines}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def print_json(data: object) -> None:
    from gitexp.model import values

    print(values.dumps(data, indent=2))


def show_report(data: object, lines: Sequence[str], as_json: bool) -> None:
    """A command's result: ``data`` as JSON with ``--json``, else ``lines`` as text."""
    if as_json:
        print_json(data)
        return
    for line in lines:
        print(line)


def confirm_foreign_command(yes: bool, declined: str, hint: str = "") -> None:
    """Go on only when the user says so, with ``--yes`` or ``y`` typed on a terminal: a
    command that came from elsewhere (a pulled run or sweep) is about to run on this
    machine, shown to the user just before.  ``declined``: the error when they say no."""
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise RepositoryStateError(
            "not running a command that came from elsewhere without your consent",
            hint or "Read the command above; to run it, add --yes.",
        )
    print("gitexp: run it? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise RepositoryStateError(declined, "Nothing was run.")
