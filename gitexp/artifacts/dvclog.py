"""DVC's log messages and progress bars, routed into gitexp's reports.

Through the ``logging`` loggers DVC writes to, so this module needs no DVC import.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

_DVC_LOGGERS = ("dvc", "dvc_data", "dvc_objects")


@contextlib.contextmanager
def collect_messages(out: list[str]) -> Iterator[None]:
    """Collect DVC's warnings and errors for gitexp's report instead of printing them."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage().strip()
            if text and text not in out:
                out.append(text)

    handler = _Collect(logging.WARNING)
    saved = []
    for name in _DVC_LOGGERS:
        log = logging.getLogger(name)
        saved.append((log, log.propagate))
        log.addHandler(handler)
        log.propagate = False
    try:
        yield
    finally:
        for log, propagate in saved:
            log.removeHandler(handler)
            log.propagate = propagate


@contextlib.contextmanager
def transfer_bars(show: bool) -> Iterator[None]:
    """DVC draws its transfer bars (tqdm, on a terminal) only when ``show``: never in a
    ``--json`` command, whose caller asked for data, not decoration."""
    log = logging.getLogger("dvc.progress")  # its bars hide when this logger is quiet
    level = log.level
    if not show:
        log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)
