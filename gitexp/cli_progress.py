"""Progress bars for push, pull, gc and sweep: tqdm on a terminal, nothing anywhere else.

tqdm is imported only when a bar is drawn, so ``import gitexp`` and ``gitexp run`` never
load it (tests/test_guide.py checks).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from gitexp.render.progress import NO_PROGRESS, Advance, Progress


class TerminalProgress(Progress):
    enabled = True

    @contextlib.contextmanager
    def counter(self, total: int | None, what: str, unit: str) -> Iterator[Advance]:
        from tqdm import tqdm

        # leave=False: the bar goes once done; the command's report says what happened.
        columns, rows = _size()
        with tqdm(
            total=total,
            desc=what,
            unit=unit,
            file=sys.stderr,
            leave=False,
            ncols=columns,
            nrows=rows,
        ) as bar:
            yield bar.update


def _size() -> tuple[int, int]:
    """The terminal's columns and rows; 80 x 24 where it reports 0 (a bare pseudo-terminal,
    a serial console): tqdm would take a size of 0 as no room and draw nothing."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        return 80, 24
    return size.columns or 80, size.lines or 24


def progress_for(as_json: bool = False) -> Progress:
    """Bars when a person watches stderr and the output is not data for a program."""
    return TerminalProgress() if bars_wanted(as_json) else NO_PROGRESS


def bars_wanted(as_json: bool = False) -> bool:
    return not as_json and sys.stderr.isatty()


def meter(done: int, total: int, elapsed: float) -> str:
    """One progress line, ``3/8 [00:12<00:20, 4.00s/run]``, for output shared with
    others (a sweep's runs print to the same terminal, so no bar is redrawn in place)."""
    from tqdm import tqdm

    return str(tqdm.format_meter(done, total, elapsed, unit="run", ncols=60))
