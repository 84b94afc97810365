"""What the terminal allows: how wide a table may be, and whether to colour it.

The one place that decides colour (docs/cli.md, "Terminal output"):

* ``NO_COLOR`` set to anything but the empty string: no colour, ever (https://no-color.org);
* else ``FORCE_COLOR`` set (and not ``0``): colour even into a pipe (CI logs, ``less -R``);
* else colour when the stream is a terminal whose ``TERM`` is not ``dumb``.

Colour is a handful of ANSI SGR codes written here rather than a library: the codes are
fixed by ECMA-48, every terminal gitexp runs in understands them, tabulate measures cells
without them, and ``import gitexp`` (a training script's import) must not pay for a
colour library.  A table is only as wide as ``COLUMNS`` says, else as the terminal is;
into a pipe without ``COLUMNS`` it is not limited, so ``gitexp ls > runs.txt`` keeps
every column.
"""

from __future__ import annotations

import os
import sys

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

ELLIPSIS = "…"

_RESET = "\033[0m"
_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bold green": "1;32",
}
# A run's status at a glance: done well, went wrong, still going (or stopped by someone).
STATUS_STYLES = {
    "finished": "green",
    "failed": "red",
    "crashed": "red",
    "crashed?": "red",
    "killed": "red",
    "corrupt": "red",
    "interrupted": "yellow",
    "pruned": "yellow",  # a sweep stopped it early: by design, not an error
    "preempted": "yellow",  # its scheduler stopped it: not the script's fault
    "running": "cyan",
}


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Whether text written to ``stream`` (default stdout) may carry colour codes."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether a person reads ``stream`` (default stdout) directly."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def table_width(stream: TextIO | None = None) -> int | None:
    """The widest a table printed to ``stream`` may be; None: as wide as it needs."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if is_terminal(stream):
        import shutil  # 3 ms (it imports bz2 and lzma): only on a terminal

        return shutil.get_terminal_size().columns
    return None


def paint(text: str, style: str | None, on: bool) -> str:
    """``text`` in ``style`` (a key of the code table) when ``on``; unchanged otherwise."""
    if not on or not style or not text or style not in _CODES:
        return text
    return f"\033[{_CODES[style]}m{text}{_RESET}"


def status_style(status: str) -> str | None:
    return STATUS_STYLES.get(status.split(" ")[0])


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return text[: width - 1] + ELLIPSIS
