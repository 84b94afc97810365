"""Small helpers shared by the command modules: messages, examples, tables, JSON."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from gitexp.render.words import plural

if TYPE_CHECKING:
    from typing import TypeAlias

    from gitexp.git.repo import GitRepo

    # What ``add_subparsers`` returns; argparse names no public type for it.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


@contextlib.contextmanager
def open_repo() -> Iterator[GitRepo]:
    """The repository around the current folder, its dead runs finalized first.

    Every command that reads runs starts here, so a run whose recorder died is never
    shown as running (docs/format.md, "the live folder").
    """
    from gitexp.git.repo import GitRepo
    from gitexp.record.recorder import recover_stale_runs

    with GitRepo.discover() as repo:
        recover_stale_runs(repo)
        yield repo


def add_run_selection(parser: argparse.ArgumentParser, fallback: str, default_n: int) -> None:
    """``--where``, ``--sort`` and ``-n``: which runs a command takes when none are named.

    ``fallback`` completes "without ..., <fallback> the first N runs" in the help.
    """
    parser.add_argument("--where", metavar="EXPR", help="choose runs as `gitexp ls --where`")
    parser.add_argument("--sort", metavar="KEY", help="order runs as `gitexp ls --sort`")
    parser.add_argument(
        "-n",
        type=int,
        default=default_n,
        metavar="N",
        help=f"{fallback} the first N runs (default {default_n}; 0: all)",
    )


def say(message: str) -> None:
    """A gitexp message on stderr (stdout stays for the command's data)."""
    print(f"gitexp: {message}", file=sys.stderr, flush=True)


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


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True)


def fmt_value(value: object) -> str:
    """A metric or config value for a table cell: short, faithful for NaN and inf."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, dict) and value.get("_type") == "histogram":  # gitexp.Histogram
        counts, bins = value.get("counts") or [], value.get("bins") or []
        span = f", {bins[0]:.4g} to {bins[-1]:.4g}" if bins else ""
        return f"histogram of {plural(sum(counts), 'value')} in {plural(len(counts), 'bin')}{span}"
    return str(value)


def fmt_time(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
