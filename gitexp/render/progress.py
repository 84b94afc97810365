"""How a long loop reports how far it got, without knowing whether anyone watches.

Core loops take a :class:`Progress` and count through :meth:`Progress.counter`; the
default counts into nothing.  The command line passes a terminal one
(:mod:`gitexp.cli_progress`, tqdm) only when stderr is a terminal and the output is not
``--json``, so bars never reach a pipe, a log file or a script.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

Advance = Callable[[int], None]  # count n more items done


def _ignore(_n: int) -> None:
    return None


class Progress:
    """Counts into nothing; :mod:`gitexp.cli_progress` draws bars instead."""

    enabled = False  # also lets DVC draw its own transfer bars (adapters.artifacts)

    @contextlib.contextmanager
    def counter(self, total: int | None, what: str, unit: str) -> Iterator[Advance]:
        yield _ignore


NO_PROGRESS = Progress()
