"""Parallel coordinates: one vertical axis per key, one line per run across them.

Drawn as SVG by gitexp itself: plotly's ``parcoords`` trace needs WebGL, which a
browser without a GPU (headless Chromium, a remote desktop) may not give, and an SVG
also opens as a file and in markdown.  Numeric axes are linear from the lowest to the
highest value; an axis with strings or booleans has one tick per value, in sorted
order.  A run missing a key breaks its line at that axis.  Lines are coloured by one
metric on a viridis-like scale (dark: low, yellow: high), or each in its run's colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from gitexp.render.charts.across import Table, is_categorical, numbers

# viridis at five stops, interpolated linearly between them
_STOPS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


@dataclass
class Axis:
    key: str
    ticks: list[tuple[float, str]]  # (position 0..1 from the bottom, label)
    positions: list[float | None]  # each run's place on the axis, 0..1


@dataclass
class Parallel:
    axes: list[Axis]
    labels: list[str]
    colors: list[str]  # each run's line colour
    color_key: str | None = None
    color_range: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)


def colormap(share: float) -> str:
    share = min(1.0, max(0.0, share))
    scaled = share * (len(_STOPS) - 1)
    i = min(int(scaled), len(_STOPS) - 2)
    t = scaled - i
    a, b = _STOPS[i], _STOPS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _axis(key: str, cells: list[object]) -> Axis:
    if is_categorical(cells):
        names = sorted({str(c) for c in cells if c is not None})
        step = 1.0 / max(1, len(names) - 1)
        place = {name: (i * step if len(names) > 1 else 0.5) for i, name in enumerate(names)}
        positions = [None if c is None else place[str(c)] for c in cells]
        return Axis(key, [(place[n], n) for n in names], positions)
    values = numbers(cells)
    finite = [v for v in values if v is not None]
    if not finite:
        return Axis(key, [], [None] * len(cells))
    low, high = min(finite), max(finite)
    span = high - low
    positions = [None if v is None else ((v - low) / span if span else 0.5) for v in values]
    ticks = [(0.0, f"{low:.4g}"), (1.0, f"{high:.4g}")] if span else [(0.5, f"{low:.4g}")]
    if span:
        ticks.insert(1, (0.5, f"{(low + high) / 2:.4g}"))
    return Axis(key, ticks, positions)


def build(data: Table, keys: list[str], color_key: str | None = None) -> Parallel:
    """The chart of ``keys`` (columns of ``data``), coloured by ``color_key``'s values."""
    chart = Parallel([_axis(k, data.columns[k]) for k in keys], data.labels, list(data.colors))
    if color_key is not None:
        values = numbers(data.columns[color_key])
        finite = [v for v in values if v is not None]
        if finite:
            low, high = min(finite), max(finite)
            chart.color_key, chart.color_range = color_key, (low, high)
            chart.colors = [
                "#b0b0b0" if v is None else colormap((v - low) / (high - low) if high > low else 1)
                for v in values
            ]
    return chart


def svg(chart: Parallel, *, width: int = 960, height: int = 380) -> str:
    """The chart as a standalone SVG document; every text in it is escaped."""
    left, right, top, bottom = 70, 90, 40, 40
    plot_h = height - top - bottom
    n = len(chart.axes)
    gap = (width - left - right) / max(1, n - 1)
    xs = [left + i * gap if n > 1 else width / 2 for i in range(n)]

    def y(position: float) -> float:
        return top + (1 - position) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" '
        'role="img" aria-label="parallel coordinates">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for run, (label, color) in enumerate(zip(chart.labels, chart.colors, strict=True)):
        pieces: list[list[str]] = [[]]
        for x, axis in zip(xs, chart.axes, strict=True):
            position = axis.positions[run]
            if position is None:
                pieces.append([])
            else:
                pieces[-1].append(f"{x:.1f},{y(position):.1f}")
        for piece in (p for p in pieces if len(p) > 1):
            out.append(
                f'<polyline class="gx-pc-line" fill="none" stroke="{color}" stroke-width="1.6" '
                f'stroke-opacity="0.8" points="{" ".join(piece)}"><title>{escape(label)}</title>'
                "</polyline>"
            )
    for x, axis in zip(xs, chart.axes, strict=True):
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" '
                   'stroke="#444" stroke-width="1"/>')  # fmt: skip
        out.append(f'<text class="gx-pc-axis" x="{x:.1f}" y="{top - 14}" text-anchor="middle" '
                   f'font-weight="600">{escape(axis.key)}</text>')  # fmt: skip
        for position, text in axis.ticks:
            out.append(f'<text x="{x - 5:.1f}" y="{y(position) + 4:.1f}" text-anchor="end" '
                       f'fill="#333">{escape(text)}</text>')  # fmt: skip
    if chart.color_key is not None and chart.color_range is not None:
        bar_x = width - right + 40
        for i in range(20):
            out.append(f'<rect x="{bar_x}" y="{y((i + 1) / 20):.1f}" width="12" '
                       f'height="{plot_h / 20 + 0.5:.1f}" fill="{colormap(i / 19)}"/>')  # fmt: skip
        low, high = chart.color_range
        out.append(f'<text x="{bar_x + 6}" y="{top - 14}" text-anchor="middle">'
                   f"{escape(chart.color_key)}</text>")  # fmt: skip
        out.append(f'<text x="{bar_x - 3}" y="{top + 4}" text-anchor="end">{high:.4g}</text>')
        out.append(f'<text x="{bar_x - 3}" y="{top + plot_h}" text-anchor="end">{low:.4g}</text>')
    out.append("</svg>")
    return "\n".join(out)


def save_png(path: str, chart: Parallel, *, dpi: int = 110) -> None:
    """The same chart through matplotlib, for a PNG (same positions, same colours)."""
    from matplotlib.figure import Figure

    from gitexp.render.staticplot import plain

    figure = Figure(figsize=(9.6, 3.8), dpi=dpi, layout="constrained")
    ax = figure.subplots()
    xs = list(range(len(chart.axes)))
    for run, color in enumerate(chart.colors):
        ys = [a.positions[run] for a in chart.axes]
        ax.plot(xs, [float("nan") if v is None else v for v in ys], color=color, alpha=0.8)
    for x, axis in zip(xs, chart.axes, strict=True):
        ax.axvline(x, color="#444", linewidth=1)
        for position, label in axis.ticks:
            ax.annotate(plain(label), (x, position), fontsize=8, ha="right", xytext=(-4, 0),
                        textcoords="offset points", va="center")  # fmt: skip
    ax.set_xticks(xs, [plain(a.key) for a in chart.axes])
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "bottom", "top"):
        ax.spines[side].set_visible(False)
    if chart.color_key is not None:
        ax.set_title(f"colour: {plain(chart.color_key)} (dark low, yellow high)", loc="right",
                     fontsize=9, y=-0.12)  # fmt: skip
    figure.savefig(path, dpi=dpi)
