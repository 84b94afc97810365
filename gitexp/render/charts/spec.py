"""The chart spec: what a chart shows, independent of who draws it.

A spec holds numbers already aligned, aggregated and thinned, so that plotly, matplotlib
and the terminal draw the same picture and tests can check the numbers against numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]

BANDS = ("std", "sem", "minmax", "none")


@dataclass
class Trace:
    """One line: a run, or a group's mean with its band (``lower``/``upper``)."""

    label: str
    color: str
    x: Floats
    y: Floats  # NaN where the line has a gap
    lower: Floats | None = None
    upper: Floats | None = None
    runs: int = 1  # how many runs this line stands for
    covered: Floats | None = None  # a group's line: how many of its runs cover each x
    raw: Floats | None = None  # the unsmoothed values, drawn faintly under a smoothed line
    texts: list[str] | None = None  # a label per point (a scatter plot's run names)


@dataclass
class Chart:
    """One metric's chart: its lines and its axes."""

    title: str
    xlabel: str
    traces: list[Trace] = field(default_factory=list)
    x_axis: str = "step"  # step, time, wall (clock, drawn as dates) or a metric's name
    log_x: bool = False
    log_y: bool = False
    band: str = "none"  # what lower/upper mean: std, sem, minmax or none
    markers: bool = False  # points, not lines (a scatter plot)
    bars: bool = False  # a bar per x (importance); y from -1 to 1
    x_ticks: list[tuple[float, str]] | None = None  # a categorical x: (position, label)

    @property
    def dates(self) -> bool:
        return self.x_axis == "wall"
