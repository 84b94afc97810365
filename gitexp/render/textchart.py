"""A compact line chart in the terminal, one line per run.

In a colour terminal each line is drawn in its own colour with braille dots (2 x 4 dots per
character cell, so a 72-column chart has 124 points across).  Without colour (output
piped to a file) braille lines could not be told apart, so each run gets its own marker
character at cell resolution instead.  Small on purpose: axes, three y labels, the x
range and a legend.  Written here because neither chosen plotting library (matplotlib,
plotly) draws in a terminal, and a terminal-plotting package would be a dependency of
every install for these 130 lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gitexp.render.cells import printable

_BRAILLE = 0x2800
_DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column]
MARKERS = "*o+x#@%&"
_COLOURS = ("34", "33", "32", "31", "35", "36", "94", "93")  # ANSI foreground codes
_LABEL_WIDTH = 10


@dataclass
class Line:
    label: str
    x: Sequence[float]
    y: Sequence[float | None]


def fmt_number(value: float) -> str:
    return f"{value:.4g}"


def _bounds(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    return low, high


def _segments(line: Line) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite points (a NaN breaks the line)."""
    pieces: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(line.x, line.y, strict=False):
        if y is None or not math.isfinite(y) or not math.isfinite(x):
            if pieces[-1]:
                pieces.append([])
            continue
        pieces[-1].append((x, y))
    return [p for p in pieces if p]


def _draw(points: list[tuple[int, int]], plot: dict[tuple[int, int], int], series: int) -> None:
    """Mark every grid point on the straight segments between consecutive points."""
    for (x0, y0), (x1, y1) in zip(points, points[1:] or points, strict=False):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for k in range(steps + 1):
            plot[(round(x0 + (x1 - x0) * k / steps), round(y0 + (y1 - y0) * k / steps))] = series


def render(
    title: str,
    lines: list[Line],
    *,
    width: int = 72,
    height: int = 14,
    colour: bool = False,
    xlabel: str = "step",
    xfmt: Callable[[float], str] = fmt_number,
) -> str:
    """The chart as text (``colour`` adds ANSI escapes and braille resolution)."""
    title = printable(title)  # a metric's name, chosen by whoever logged it
    pieces = [(i, seg) for i, line in enumerate(lines) for seg in _segments(line)]
    if not pieces:
        return f"{title}: no values to draw"
    xs = [x for _, seg in pieces for x, _ in seg]
    ys = [y for _, seg in pieces for _, y in seg]
    x_low, x_high = _bounds(xs)
    y_low, y_high = _bounds(ys)
    cols = max(10, width - _LABEL_WIDTH - 2)
    rows = max(4, height)
    sub_x, sub_y = (2, 4) if colour else (1, 1)
    grid_w, grid_h = cols * sub_x, rows * sub_y
    plot: dict[tuple[int, int], int] = {}
    for series, seg in pieces:
        points = [
            (
                round((x - x_low) / (x_high - x_low) * (grid_w - 1)),
                round((y_high - y) / (y_high - y_low) * (grid_h - 1)),
            )
            for x, y in seg
        ]
        _draw(points, plot, series)
    cells: dict[tuple[int, int], tuple[int, int]] = {}  # (col, row) -> (bits, series)
    for (px, py), series in plot.items():
        key = (px // sub_x, py // sub_y)
        bits = _DOT_BITS[py % sub_y][px % sub_x] if colour else 0
        cells[key] = (cells.get(key, (0, 0))[0] | bits, series)
    labels = {
        0: fmt_number(y_high),
        rows // 2: fmt_number((y_low + y_high) / 2),
        rows - 1: fmt_number(y_low),
    }
    out = [title]
    for row in range(rows):
        text = []
        for col in range(cols):
            cell = cells.get((col, row))
            if cell is None:
                text.append(" ")
            elif colour:
                code = _COLOURS[cell[1] % len(_COLOURS)]
                text.append(f"\033[{code}m{chr(_BRAILLE + cell[0])}\033[0m")
            else:
                text.append(MARKERS[cell[1] % len(MARKERS)])
        label = labels.get(row, "")
        axis = "┤" if label else "│"
        out.append(f"{label:>{_LABEL_WIDTH}} {axis}{''.join(text)}".rstrip())
    out.append(" " * (_LABEL_WIDTH + 1) + "└" + "─" * cols)
    left, right = xfmt(x_low), xfmt(x_high)
    middle = xlabel.center(max(0, cols - len(left) - len(right)))
    out.append(" " * (_LABEL_WIDTH + 2) + left + middle + right)
    legend = []
    for i, line in enumerate(lines):
        if colour:
            legend.append(f"\033[{_COLOURS[i % len(_COLOURS)]}m━━\033[0m {printable(line.label)}")
        else:
            legend.append(f"{MARKERS[i % len(MARKERS)]} {printable(line.label)}")
    out.append(" " * (_LABEL_WIDTH + 2) + "   ".join(legend))
    return "\n".join(out)
