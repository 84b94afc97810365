"""Chart specs as a PNG or SVG with matplotlib: stacked charts, bands as shaded areas.

matplotlib is imported inside the function (a few hundred milliseconds) and used through
a ``Figure``, never ``pyplot``: no global state, no GUI backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitexp.render.staticplot import plain

if TYPE_CHECKING:
    from gitexp.render.charts.spec import Chart, Floats


def _x(chart: Chart, values: Floats) -> object:
    if chart.dates:
        from datetime import datetime

        return [datetime.fromtimestamp(t) for t in values.tolist()]
    return values


def save(path: str, charts: list[Chart], *, dpi: int = 110) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2 * max(1, len(charts))), dpi=dpi, layout="constrained")
    axes = figure.subplots(max(1, len(charts)), 1, squeeze=False)[:, 0]
    for ax, chart in zip(axes, charts, strict=False):
        for trace in chart.traces:
            x = _x(chart, trace.x)
            if trace.raw is not None:
                ax.plot(x, trace.raw, color=trace.color, alpha=0.25, linewidth=1)
            if trace.lower is not None and trace.upper is not None and trace.runs > 1:
                ax.fill_between(
                    x, trace.lower, trace.upper, color=trace.color, alpha=0.2, linewidth=0
                )
            if chart.bars:
                colors = ["#d62728" if v < 0 else trace.color for v in trace.y.tolist()]
                ax.bar(x, trace.y, color=colors, label=plain(trace.label))
                ax.set_ylim(-1, 1)
                ax.axhline(0, color="#444", linewidth=0.8)
            elif chart.markers:
                ax.scatter(x, trace.y, color=trace.color, s=30, label=plain(trace.label))
                for px, py, name in zip(trace.x, trace.y, trace.texts or [], strict=False):
                    ax.annotate(plain(name), (px, py), fontsize=7, xytext=(4, 3),
                                textcoords="offset points")  # fmt: skip
            else:
                ax.plot(x, trace.y, color=trace.color, linewidth=1.8, label=plain(trace.label))
        ax.set_title(plain(chart.title), loc="left", fontsize=11)
        ax.set_xlabel(plain(chart.xlabel))
        if chart.x_ticks is not None:
            ax.set_xticks([p for p, _ in chart.x_ticks], [plain(t) for _, t in chart.x_ticks])
        if chart.log_x:
            ax.set_xscale("log")
        if chart.log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if chart.traces:
            ax.legend(fontsize=8, frameon=False)
    figure.savefig(path, dpi=dpi)
