"""Static charts (PNG, SVG) with matplotlib: metric curves and histogram evolution.

matplotlib is imported inside the functions (it costs a few hundred milliseconds) and
used through ``Figure`` objects, never ``pyplot``: no global state, no GUI backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from gitexp.render import series as seriesmod
from gitexp.render.cells import printable

if TYPE_CHECKING:
    from datetime import datetime

FORMATS = (".png", ".svg")
X_LABELS = {"step": "step", "time": "seconds since start", "wall": "time"}


@dataclass
class Curve:
    label: str
    color: str
    series: seriesmod.Series


@dataclass
class HeatmapPanel:
    label: str
    color: str
    steps: list[int]
    grid: list[list[float]]  # grid[bin][step index]


def plain(text: str) -> str:
    """A run's name or a metric's as matplotlib text: literally what it says.

    matplotlib reads ``$...$`` as mathtext (a crafted name could make it draw anything,
    or fail the whole figure on bad syntax); an escaped ``\\$`` is a dollar sign.
    """
    return printable(text).replace("$", "\\$")


def _x(series: seriesmod.Series, axis: str) -> list[float] | list[datetime]:
    if axis == "wall":
        from datetime import datetime

        return [datetime.fromtimestamp(t) for t in series.wall]
    return series.x(axis)


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def save_curves(
    path: str,
    panels: list[tuple[str, list[Curve]]],
    *,
    x: str = "step",
    smooth: float = 0.0,
    dpi: int = 110,
) -> None:
    """One chart per metric, stacked, one line per run (a faint raw line under a smoothed one)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2 * len(panels)), dpi=dpi, layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (metric, curves) in zip(axes, panels, strict=True):
        for curve in curves:
            xs = _x(curve.series, x)
            ys = curve.series.value
            if smooth > 0:
                ax.plot(xs, _nan(ys), color=curve.color, alpha=0.25, linewidth=1)
                ys = seriesmod.smooth(ys, smooth)
            ax.plot(xs, _nan(ys), color=curve.color, linewidth=1.8, label=plain(curve.label))
        ax.set_title(plain(metric), loc="left", fontsize=11)
        ax.set_xlabel(X_LABELS.get(x, x))
        ax.grid(True, alpha=0.3)
        if curves:
            ax.legend(fontsize=8, frameon=False)
    figure.savefig(path, dpi=dpi)


def _cell_edges(steps: list[int]) -> list[float]:
    """Column edges half way between logged steps (steps need not be evenly spaced)."""
    if len(steps) == 1:
        return [steps[0] - 0.5, steps[0] + 0.5]
    middles = [(a + b) / 2 for a, b in pairwise(steps)]
    return [2 * steps[0] - middles[0], *middles, 2 * steps[-1] - middles[-1]]


def save_histograms(
    path: str,
    metric: str,
    panels: list[HeatmapPanel],
    low: float,
    high: float,
    *,
    dpi: int = 110,
) -> None:
    """A metric's histograms over steps as heatmaps, one per run, side by side.

    Darker to brighter is log(1 + count), as in TensorBoard's distribution views.
    """
    from matplotlib.figure import Figure

    cols = max(1, min(len(panels), 3))
    rows = max(1, math.ceil(len(panels) / cols))
    figure = Figure(figsize=(3.6 * cols, 2.9 * rows), dpi=dpi, layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    y_edges = [low + (high - low) * i / len(panels[0].grid) for i in range(len(panels[0].grid) + 1)]
    for ax, panel in zip(axes, panels, strict=False):
        # Colour by log(1 + count): one crowded bin (zero gradients of unused inputs)
        # would otherwise paint the tails of the distribution invisible.
        shade = [[math.log1p(count) for count in row] for row in panel.grid]
        ax.pcolormesh(_cell_edges(panel.steps), y_edges, shade, cmap="viridis")
        ax.set_title(plain(panel.label), fontsize=10, color=panel.color)
        ax.set_xlabel("step")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle(plain(metric), x=0.02, ha="left", fontsize=11)
    figure.savefig(path, dpi=dpi)
