"""A chart spec in the terminal: each line (a run, or a group's mean) through
:mod:`gitexp.render.textchart`; a group's band, which a character grid cannot shade,
is written under the chart: its spread at the last x all its runs reach."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from gitexp.render import textchart
from gitexp.render.cells import printable
from gitexp.render.charts.plotlyfig import BAND_NAMES

if TYPE_CHECKING:
    from gitexp.render.charts.spec import Chart


def _clock(stamp: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(stamp))


def render(chart: Chart, *, width: int = 100, colour: bool = False) -> str:
    lines = []
    for trace in chart.traces:
        x, y = trace.x, trace.y
        # On a log axis the text chart is drawn in log10 units, its labels say so.
        if chart.log_x:
            x = np.log10(np.where(x > 0, x, np.nan))
        if chart.log_y:
            y = np.log10(np.where(y > 0, y, np.nan))
        values = [None if v != v else v for v in y.tolist()]
        lines.append(textchart.Line(trace.label, x.tolist(), values))
    xlabel = chart.xlabel + (" (log10)" if chart.log_x else "")
    title = chart.title + (" (log10)" if chart.log_y else "")
    xfmt = _clock if chart.dates else textchart.fmt_number
    out = textchart.render(title, lines, width=width, colour=colour, xlabel=xlabel, xfmt=xfmt)
    band = BAND_NAMES.get(chart.band)
    notes = []
    for trace in chart.traces:
        if band and trace.runs > 1 and trace.lower is not None and trace.upper is not None:
            # The last x that all (or most) of the group's runs reach: after a short run
            # ended, the band of the runs left says little.
            covered = trace.covered if trace.covered is not None else np.ones(len(trace.y))
            finite = np.flatnonzero(np.isfinite(trace.y) & (covered == covered.max()))
            if len(finite):
                i = finite[-1]
                notes.append(
                    f"  {printable(trace.label)}: at {chart.xlabel} {trace.x[i]:.4g} "
                    f"({int(covered[i])} runs) mean {trace.y[i]:.4g}, "
                    f"band {band} {trace.lower[i]:.4g} to {trace.upper[i]:.4g}"
                )
    return "\n".join([out, *notes])
