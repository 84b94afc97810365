"""One cell of a table, or a line of a report: values, times and durations as text.

Shared by the terminal tables, the markdown report and the rerun verdict, so that a value
reads the same everywhere.  Tables are drawn by tabulate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gitexp.render.words import plural

# Every C0 and C1 control character and DEL, and the bidirectional overrides that can make
# text read differently from what it is: shown as escapes, never sent to a terminal.  Run
# names, tags, config values and output come from whoever recorded the run (a teammate, a
# fork): an ESC there could clear the screen, write the clipboard (OSC 52) or disguise a
# link (OSC 8).
_VISIBLE = {code: f"\\x{code:02x}" for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}
_VISIBLE.update(
    {code: f"\\u{code:04x}" for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
)
# A byte of a name that is not UTF-8 (a file name, read with surrogateescape) is shown as
# the byte it is: printed as it is, it would fail on a UTF-8 terminal, or garble it.
_VISIBLE.update({code: f"\\x{code - 0xDC00:02x}" for code in range(0xDC80, 0xDD00)})


# Text of several lines (a code diff, a report): its line breaks and tabs stay, which no
# terminal reads as a command; every other control character is escaped.
_VISIBLE_LINES = {code: text for code, text in _VISIBLE.items() if code not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``), safe for a terminal."""
    return text.translate(_VISIBLE)


def printable_lines(text: str) -> str:
    """``printable`` for text of several lines: newlines and tabs are kept."""
    return text.translate(_VISIBLE_LINES)


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    from tabulate import tabulate

    cells = [[printable(str(cell)) for cell in row] for row in rows]
    titles = [printable(header) for header in headers]
    return tabulate(cells, headers=titles, tablefmt="simple", disable_numparse=True)


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


def fmt_time(stamp: object) -> str:
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def fmt_duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
