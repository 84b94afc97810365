"""A chart spec as a plotly figure (a JSON-able dict of ``data`` and ``layout``).

The HTML views draw it with ``Plotly.react``.  A band is two traces, the upper edge and
then the lower edge filled up to it (``fill: "tonexty"``), in the line's legend group so
that clicking the legend hides line and band together.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.render.charts.spec import Chart, Floats

BAND_NAMES = {"std": "± std", "sem": "± sem", "minmax": "min–max"}


def numbers(values: Floats, digits: int = 6) -> list[float | None]:
    """Plain JSON numbers: ``digits`` significant digits (the page stays small), NaN as
    null (a gap in the line)."""
    out: list[float | None] = []
    for value in values.tolist():
        out.append(float(f"{value:.{digits}g}") if math.isfinite(value) else None)
    return out


def _xs(chart: Chart, values: Floats) -> list[float | None]:
    # Clock times need more digits than values: 1.7e9 seconds to the hundredth.
    return numbers(values, 12 if chart.dates else 8)


def text(value: str) -> str:
    """Run data as plotly text: plotly reads ``<b>``/``<a>`` in names as markup, so & < >
    go in as entities, which plotly shows as the characters themselves."""
    return html.escape(value, quote=False)


def figure(chart: Chart) -> dict[str, object]:
    data: list[dict[str, object]] = []
    for trace in chart.traces:
        x = _xs(chart, trace.x)
        if chart.dates:
            x = [None if t is None else t * 1000 for t in x]  # plotly dates: milliseconds
        group = text(trace.label)
        if trace.lower is not None and trace.upper is not None and trace.runs > 1:
            edge = {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "legendgroup": group,
                "showlegend": False,
                "hoverinfo": "skip",
                "line": {"width": 0},
            }
            data.append({**edge, "y": numbers(trace.upper), "name": group + " upper"})
            data.append(
                {
                    **edge,
                    "y": numbers(trace.lower),
                    "name": group + " lower",
                    "fill": "tonexty",
                    "fillcolor": _alpha(trace.color, 0.2),
                }
            )
        if trace.raw is not None:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": x,
                    "y": numbers(trace.raw),
                    "legendgroup": group,
                    "showlegend": False,
                    "hoverinfo": "skip",
                    "opacity": 0.25,
                    "line": {"color": trace.color, "width": 1},
                }
            )
        line: dict[str, object] = {"type": "scatter", "mode": "lines", "x": x,
                                   "y": numbers(trace.y), "name": group, "legendgroup": group,
                                   "line": {"color": trace.color, "width": 2}}  # fmt: skip
        if chart.markers:
            line.update(mode="markers", marker={"color": trace.color, "size": 9})
        if chart.bars:
            line = {"type": "bar", "x": x, "y": numbers(trace.y), "name": group,
                    "marker": {"color": trace.color}}  # fmt: skip
        if trace.texts is not None:
            line.update(text=[text(t) for t in trace.texts], hovertemplate="%{text}: %{y}")
        data.append(line)
    band = BAND_NAMES.get(chart.band, "") if any(t.runs > 1 for t in chart.traces) else ""
    title = text(chart.title) + (
        f" <span style='font-size:11px'>(mean, band {band})</span>" if band else ""
    )
    layout = {
        "title": {"text": title, "x": 0.02, "xanchor": "left", "font": {"size": 14}},
        "margin": {"l": 60, "r": 16, "t": 40, "b": 44},
        "height": 340,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {
            "title": {"text": text(chart.xlabel)},
            "type": "date" if chart.dates else ("log" if chart.log_x else "linear"),
        },
        "yaxis": {"automargin": True, "type": "log" if chart.log_y else "linear"},
        "uirevision": chart.title,
    }
    if chart.x_ticks is not None:
        layout["xaxis"] = {
            "title": {"text": text(chart.xlabel)},
            "tickvals": [p for p, _ in chart.x_ticks],
            "ticktext": [text(t) for _, t in chart.x_ticks],
        }
    if chart.markers or chart.bars:
        layout["hovermode"] = "closest"
    if chart.bars:
        layout["yaxis"] = {"range": [-1, 1], "title": {"text": text(chart.traces[0].label)}}
    return {"metric": chart.title, "data": data, "layout": layout}


def _alpha(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"
