"""One cell of a table, or a line of a report: values, times and durations as text.

Shared by the terminal tables, the markdown report and the rerun verdict, so that a value
reads the same everywhere.  Tables are drawn by tabulate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gitexp.render.words import plural


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
