"""Runs to chart specs: the x axis, grouping, alignment, bands, smoothing, thinning."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gitexp.render import series as seriesmod
from gitexp.render.charts import align
from gitexp.render.charts.spec import BANDS, Chart, Trace

if TYPE_CHECKING:
    from gitexp.render.charts.spec import Floats

TIME_AXES = ("step", "time", "wall")
X_LABELS = {"step": "step", "time": "seconds since start", "wall": "time"}
PALETTE = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"),
    *("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"),
)


@dataclass
class RunCurves:
    """One run as a chart takes it: its legend label, colour, group and metric series."""

    label: str
    color: str
    scalars: Mapping[str, seriesmod.Series]
    group: str | None = None  # the run's group label; None when the chart is not grouped


def group_label(config: Mapping[str, object], keys: Sequence[str]) -> str:
    """``lr=0.1, opt=adam``: the run's values of the group-by keys (flattened config keys)."""
    return ", ".join(f"{key}={_short(config.get(key))}" for key in keys)


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "none" if value is None else str(value)


def step_metric(metric: str, definitions: Mapping[str, Mapping[str, object]]) -> str | None:
    """The ``step_metric`` that ``define_metric`` declared for ``metric`` (name or glob)."""
    found = definitions.get(metric)
    if found is None:
        globbed = [d for p, d in definitions.items() if fnmatch.fnmatchcase(metric, p)]
        found = globbed[0] if globbed else None
    value = found.get("step_metric") if found is not None else None
    return value if isinstance(value, str) and value != metric else None


def xy(scalars: Mapping[str, seriesmod.Series], metric: str, axis: str) -> tuple[Floats, Floats]:
    """A metric's points against ``axis``: step, time, wall, or another metric, paired with
    it by step (rows where both were logged)."""
    found = scalars[metric]
    y = np.asarray(found.value, dtype=float)  # None (NaN, infinities) becomes NaN
    if axis in TIME_AXES:
        return np.asarray(found.x(axis), dtype=float), y
    other = scalars.get(axis)
    if other is None:
        return np.empty(0), np.empty(0)
    steps = np.asarray(found.step, dtype=float)
    other_steps = np.asarray(other.step, dtype=float)
    other_values = np.asarray(other.value, dtype=float)
    order = np.argsort(other_steps, kind="stable")
    other_steps, other_values = other_steps[order], other_values[order]
    at = np.clip(np.searchsorted(other_steps, steps), 0, max(len(other_steps) - 1, 0))
    if not len(other_steps):
        return np.empty(0), np.empty(0)
    same = other_steps[at] == steps
    return other_values[at][same], y[same]


def metric_chart(
    metric: str,
    runs: Sequence[RunCurves],
    *,
    x_axis: str = "step",
    band: str = "std",
    smooth: float = 0.0,
    log_x: bool = False,
    log_y: bool = False,
    max_points: int = seriesmod.MAX_POINTS,
) -> Chart:
    """``metric``'s chart: one line per run, or, when runs carry a group, one mean line per
    group with its band (the runs aligned as :mod:`align` says)."""
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}")
    chart = Chart(metric, X_LABELS.get(x_axis, x_axis), [], x_axis, log_x, log_y, band)
    having = [run for run in runs if metric in run.scalars]
    curves = [_masked(*xy(run.scalars, metric, x_axis), log_x, log_y) for run in having]
    if not any(run.group is not None for run in having):
        for run, (x, y) in zip(having, curves, strict=True):
            x, y = align.clean(x, y)
            smoothed = align.ema(y, smooth)
            keep = align.thin_indices(smoothed, max_points)
            raw = y[keep] if smooth > 0 else None
            chart.traces.append(Trace(run.label, run.color, x[keep], smoothed[keep], raw=raw))
        return chart
    groups: dict[str, list[tuple[Floats, Floats]]] = {}
    for run, (x, y) in zip(having, curves, strict=True):
        x, y = align.clean(x, y)
        groups.setdefault(run.group or "", []).append((x, align.ema(y, smooth)))
    for i, (label, members) in enumerate(groups.items()):
        grid, matrix = align.align(members)
        mean, lower, upper = align.aggregate(matrix, band)
        keep = align.thin_indices(mean, max_points)
        chart.traces.append(
            Trace(
                f"{label} ({len(members)} run{'s' if len(members) != 1 else ''})",
                PALETTE[i % len(PALETTE)],
                grid[keep],
                mean[keep],
                None if lower is None else lower[keep],
                None if upper is None else upper[keep],
                runs=len(members),
                covered=np.sum(np.isfinite(matrix), axis=0)[keep].astype(float),
            )
        )
    return chart


def _masked(x: Floats, y: Floats, log_x: bool, log_y: bool) -> tuple[Floats, Floats]:
    """On a log axis, points at or below zero cannot be drawn: they become gaps."""
    if log_x:
        x = np.where(x > 0, x, np.nan)
    if log_y:
        y = np.where(y > 0, y, np.nan)
    return x, y
