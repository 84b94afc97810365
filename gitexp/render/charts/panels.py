"""The across-run panels of a report and the ui, added to a bundle: grouped curves,
system metrics, parallel coordinates, parameter importance, the best run's config
against a baseline, an intro, and the hook for logged media and chart specs.

One function, :func:`add`, so that ``gitexp report`` and ``gitexp ui`` show the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitexp.model.config import flatten_config
from gitexp.read.compare import MINIMIZE, best_indices, declared_definitions, goal_of
from gitexp.render.charts import across, build, importance, logged, parallel, plotlyfig

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle, RunData
    from gitexp.render.charts.spec import Chart

SYSTEM_PREFIX = "system/"


@dataclass
class Drawn:
    """The specs behind the panels: grouped curves, system metrics, parallel coordinates."""

    groups: list[Chart] = field(default_factory=list)
    system: list[Chart] = field(default_factory=list)
    parallel: parallel.Parallel | None = None


MAX_PARALLEL_KEYS = 8  # config axes in the report's parallel coordinates


def primary_metric(runs: Sequence[RunData], names: Sequence[str]) -> str | None:
    """The metric a report ranks runs by: the first declared with a goal, else the first
    whose name says its goal (loss, acc, ...), else the first logged."""
    defs = declared_definitions([d.view for d in runs])
    candidates = [n for n in names if not n.startswith(SYSTEM_PREFIX)]
    for wanted in ("declared", "default"):
        for name in candidates:
            if goal_of(name, defs)[1] == wanted:
                return name
    return candidates[0] if candidates else None


def add(
    bundle: Bundle,
    runs: Sequence[RunData],
    *,
    group_by: Sequence[str] = (),
    metric: str | None = None,
    baseline: int = 0,
    smooth: float = 0.0,
    max_points: int = 1000,
    forest: bool = True,
    x_axis: str | None = None,
    read: logged.Reader | None = None,
    link: logged.Linker | None = None,
) -> Drawn:
    """Add the panels to ``bundle`` (built by :func:`gitexp.render.bundle.build` for the
    same runs); ``baseline`` is the index of the run the best one is compared with.
    Returns the specs behind them, for renderers other than plotly (markdown's images)."""
    drawn = Drawn()
    scalars = bundle.get("scalars", [])
    system = [m for m in scalars if m.startswith(SYSTEM_PREFIX)]
    bundle["scalars"] = [m for m in scalars if m not in system]
    labels = [r["name"] for r in bundle.get("runs", [])]
    labels = across.run_labels(labels, [r["short"] for r in bundle.get("runs", [])])
    colors = [r["color"] for r in bundle.get("runs", [])]
    configs = [flatten_config(d.view.config) for d in runs]
    sections = bundle.setdefault("sections", [])
    curves = [
        build.RunCurves(label, color, d.scalars, None)
        for label, color, d in zip(labels, colors, runs, strict=True)
    ]
    if system:
        drawn.system = [
            build.metric_chart(m, curves, x_axis="time", max_points=max_points) for m in system
        ]
        bundle["system"] = [plotlyfig.figure(chart) for chart in drawn.system]
        sections.append("system")
    if group_by:
        defs = declared_definitions([d.view for d in runs])
        grouped = [
            build.RunCurves(c.label, c.color, c.scalars, build.group_label(config, group_by))
            for c, config in zip(curves, configs, strict=True)
        ]
        drawn.groups = [
            build.metric_chart(
                m,
                grouped,
                x_axis=x_axis or _axis(build.step_metric(m, defs), scalars),
                smooth=smooth,
                max_points=max_points,
            )
            for m in bundle["scalars"]
        ]
        bundle["figures"] = [plotlyfig.figure(chart) for chart in drawn.groups]
        sections.append("figures")
    metric = metric or primary_metric(runs, bundle["scalars"])
    summaries = [d.view.summary for d in runs]
    if metric is not None and len(runs) > 1:
        keys = across.varying_keys(configs)
        table = across.table(labels, colors, configs, summaries, keys[:MAX_PARALLEL_KEYS], [metric])
        if keys:
            drawn.parallel = parallel.build(table, [*keys[:MAX_PARALLEL_KEYS], metric], metric)
            bundle["parallel"] = parallel.svg(drawn.parallel)
            columns, target = across.for_importance(configs, summaries, metric)
            rows = importance.importances(columns, target, forest=forest)
            bundle["importance"] = importance.as_json(metric, rows)
            sections.extend(["parallel", "importance"])
        best = _best_against_baseline(runs, configs, summaries, metric, baseline)
        if best is not None:
            bundle["best"] = best
            sections.append("best")
    media = logged.media_panels(runs, read, link)
    if media:
        bundle["media"] = media
        sections.append("media")
    return drawn


def _axis(declared: str | None, logged_names: Sequence[str]) -> str:
    return declared if declared is not None and declared in logged_names else "step"


def _best_against_baseline(
    runs: Sequence[RunData],
    configs: Sequence[dict[str, object]],
    summaries: Sequence[object],
    metric: str,
    baseline: int,
) -> dict[str, object] | None:
    defs = declared_definitions([d.view for d in runs])
    goal = goal_of(metric, defs)[0] or MINIMIZE
    cells = [s.get(metric) if isinstance(s, dict) else None for s in summaries]
    best = best_indices(cells, goal)
    if not best or best[0] == baseline:
        return None
    a, b = configs[baseline], configs[best[0]]
    keys = list(dict.fromkeys([*a, *b]))
    rows = [
        {"key": k, "baseline": across.scalar(a.get(k)), "best": across.scalar(b.get(k))}
        for k in keys
        if repr(a.get(k)) != repr(b.get(k))
    ]
    return {
        "metric": metric,
        "goal": goal,
        "best": runs[best[0]].view.info.id,
        "baseline": runs[baseline].view.info.id,
        "values": [across.scalar(cells[baseline]), across.scalar(cells[best[0]])],
        "rows": rows,
    }
