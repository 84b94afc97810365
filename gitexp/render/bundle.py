"""The data behind ``gitexp report``, ``gitexp plot -o FILE.html`` and ``gitexp ui``.

One JSON-able dict (the *bundle*) holds everything the views draw for a set of runs:
the runs, each scalar metric's curve per run, histogram grids, the comparison rows,
code diffs against the first run, the environment and notes.  The report embeds it in
the page; the dashboard fetches it from its server.  One builder keeps the two in step.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict, cast

from gitexp._version import __version__
from gitexp.git.repo import MODE_TREE, GitRepo
from gitexp.model.config import flatten_config
from gitexp.model.history import parse_rows
from gitexp.model.ids import short_id
from gitexp.model.record import RUNNING
from gitexp.read import compare as comparison
from gitexp.read.diff import code_changes, unified_code_diff
from gitexp.read.listing import RunEntry, collector_paused
from gitexp.read.runview import RunView, load_run, read_history
from gitexp.record import manifest
from gitexp.record.live import live_root
from gitexp.render import series
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.model.shapes import HistoryRow
    from gitexp.read.diff import CodeChange

    class RunJson(TypedDict):
        id: str
        short: str
        name: str
        status: str
        commit: str
        start: float
        end: float | None
        duration: float | None
        tags: list[str]
        notes: str | None
        group: str | None
        branch: str | None
        baseline: str | None
        dirty: bool
        command: str
        color: str
        live: bool
        config: object  # flattened; NaN, infinities and histograms as text (_plain)
        summary: object

    class HistogramGrid(TypedDict):
        metric: str
        low: float
        high: float
        centres: list[float]
        runs: dict[str, dict[str, object]]  # run id: {"steps", "z"}

    class CodePair(TypedDict):
        a: str
        b: str
        files: list[CodeChange]
        patch: str
        truncated: bool

    class MachineJson(TypedDict):
        id: str
        machine: str
        os: object  # as hardware.json gave them
        python: object
        hostname: object
        packages: int

    class PackageVersions(TypedDict):
        name: str
        versions: list[str | None]  # per run, None where the run lacks the package

    class EnvironmentJson(TypedDict):
        machines: list[MachineJson]
        packages: list[PackageVersions]

    class CompareRowJson(TypedDict):
        section: str
        key: str
        values: list[object]
        differs: bool
        goal: str | None
        goal_source: str | None
        best: list[int]

    class Bundle(TypedDict, total=False):
        """What the report page, the dashboard and the markdown report draw."""

        title: str
        generated: float
        repository: str
        gitexp_version: str
        sections: list[str]
        runs: list[RunJson]
        scalars: list[str]
        series: dict[str, dict[str, dict[str, Sequence[float | None]]]]  # run, metric, axis
        histograms: list[HistogramGrid]
        compare: list[CompareRowJson]
        code: list[CodePair]
        environment: EnvironmentJson
        missing: list[str]  # gitexp ui: runs deleted since the page listed them
        figures: list[dict[str, object]]  # plotly figures of chart specs (render/charts)
        parallel: str  # parallel coordinates, an SVG document (render/charts/parallel.py)
        importance: dict[str, object]  # {"metric", "rows": [{key, runs, spearman, forest}]}
        system: list[dict[str, object]]  # plotly figures of system/* metrics over time
        best: dict[str, object]  # the best run's config against the baseline's
        intro: str  # gitexp report --intro FILE.md, as written
        media: list[dict[str, object]]  # render/charts/logged.py: media panels (a hook)


# plotly's default colour sequence, so the report matches what users know from plotly/wandb
PALETTE = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"),
    *("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"),
)
SECTIONS = ("runs", "charts", "histograms", "compare", "code", "environment", "notes")
MAX_PATCH_CHARS = 200_000  # per pair of runs; a bigger diff is cut with a note


@dataclass
class RunData:
    """One run as the charts need it: its record plus its parsed history."""

    view: RunView
    scalars: dict[str, series.Series]
    histograms: dict[str, series.RunHistograms]
    live: bool = False  # history read from the live folder of a run still going
    # per media key, its (step, reference) pairs (render/charts/logged.py draws them)
    media: dict[str, list[tuple[int, object]]] = field(default_factory=dict)
    # per metric, series.thin(scalars[metric], thinned_points), done ahead: by the report's
    # cache (render/charts/seriescache.py), whose runs' scalars are thin already but for
    # system metrics.  build() takes them when it thins to that many points.
    thinned: dict[str, series.Series] = field(default_factory=dict)
    thinned_points: int = 0


def _live_rows(repo: GitRepo, run_id: str, name: str = "history.jsonl") -> list[HistoryRow] | None:
    path = os.path.join(live_root(repo.commondir), run_id, name)
    try:
        with open(path, "rb") as handle:
            return parse_rows(handle.read())
    except OSError:
        return None


def load_data(repo: GitRepo, entry: RunEntry) -> RunData:
    """A run's record and history; a running run's newest rows come from its live folder."""
    # Rows are dicts of numbers (no cycles): the collector walking them again and again
    # cost a tenth of a report's time (docs/benchmarks.md).
    with collector_paused():
        return _load_data(repo, entry)


def _load_data(repo: GitRepo, entry: RunEntry) -> RunData:
    view = load_run(repo, entry)
    rows = _live_rows(repo, entry.id) if entry.status.startswith(RUNNING) else None
    live = rows is not None
    if rows is None:
        rows = read_history(repo, view)
    # System metrics (system/cpu_percent, ...) are keyed by time: their _step counts samples.
    system = _live_rows(repo, entry.id, "system.jsonl") if live else None
    rows = rows + (system if system is not None else _system_rows(repo, view))
    scalars, histograms = series.split_history(rows)
    from gitexp.render.charts.logged import collect

    # A live run's metrics.json lags its rows: every row is looked at.
    keys = None if live else [str(m["key"]) for m in view.media]
    return RunData(view, scalars, histograms, live, collect(rows, keys))


def _system_rows(repo: GitRepo, view: RunView) -> list[HistoryRow]:
    found = repo.lookup_path(view.meta_tree, b"system")
    if found is None or found[0] != MODE_TREE:
        return []
    rows: list[HistoryRow] = []
    for name, (_mode, sha) in sorted(repo.tree_entries(found[1]).items()):
        if name.endswith(b".jsonl"):
            rows.extend(parse_rows(repo.read_blob(sha)))
    return rows


def _plain(value: object) -> object:
    """JSON for the browser: NaN and infinities as text, histograms as a short label."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if series.is_histogram(value):
        return f"histogram ({plural(len(value.get('counts') or []), 'bin')})"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _run_json(data: RunData, color: str) -> RunJson:
    info = data.view.info
    return {
        "id": info.id,
        "short": short_id(info.id),
        "name": info.name,
        "status": data.view.entry.status,
        "commit": data.view.entry.commit.decode(),
        "start": info.start,
        "end": info.end,
        "duration": info.duration,
        "tags": list(info.tags),
        "notes": info.notes,
        "group": info.group,
        "branch": info.branch,
        "baseline": info.baseline,
        "dirty": info.dirty,
        "command": " ".join(info.command),
        "color": color,
        "live": data.live,
        "config": _plain(flatten_config(data.view.config)),
        "summary": _plain(
            {k: v for k, v in data.view.summary.items() if not series.is_histogram(v)}
        ),
    }


def _ordered_keys(dicts: Sequence[Mapping[str, object]]) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return list(keys)


def _histograms_json(runs: list[RunData], names: list[str]) -> list[HistogramGrid]:
    out: list[HistogramGrid] = []
    for name in names:
        per_run = [(d.view.info.id, d.histograms[name]) for d in runs if name in d.histograms]
        span = series.histogram_range(h for _, h in per_run)
        if span is None:
            continue
        low, high = span
        grids: dict[str, dict[str, object]] = {}
        for run_id, hist in per_run:
            steps, grid = series.regrid(hist, low, high)
            grids[run_id] = {"steps": steps, "z": grid}
        out.append(
            {
                "metric": name,
                "low": low,
                "high": high,
                "centres": series.grid_centres(low, high),
                "runs": grids,
            }
        )
    return out


def _code_json(repo: GitRepo, runs: list[RunData]) -> list[CodePair]:
    if len(runs) < 2:
        return []
    first = runs[0].view
    out: list[CodePair] = []
    for other in runs[1:]:
        view = other.view
        a, b = short_id(first.info.id), short_id(view.info.id)
        patch = unified_code_diff(repo, first.root_tree, view.root_tree, a, b)
        truncated = len(patch) > MAX_PATCH_CHARS
        out.append(
            {
                "a": first.info.id,
                "b": view.info.id,
                "files": code_changes(repo, first.root_tree, view.root_tree),
                "patch": patch[:MAX_PATCH_CHARS],
                "truncated": truncated,
            }
        )
    return out


def _environment_json(runs: list[RunData]) -> EnvironmentJson:
    machines: list[MachineJson] = []
    for data in runs:
        hardware = data.view.hardware
        host: Mapping[str, object] = hardware.get("host") or {}
        python = host.get("python")
        machines.append(
            {
                "id": data.view.info.id,
                "machine": manifest.summarize(hardware) if hardware else "unknown",
                "os": host.get("os_pretty") or host.get("os"),
                "python": python.get("version") if isinstance(python, Mapping) else None,
                "hostname": host.get("hostname"),
                "packages": len(data.view.packages),
            }
        )
    # A run without packages.txt (still starting, or recorded without it) says nothing
    # about its packages: it must not make every package look different.
    recorded = [data for data in runs if data.view.packages]
    names = sorted({name for data in recorded for name in data.view.packages})
    differing: list[PackageVersions] = []
    for name in names:
        if len({data.view.packages.get(name) for data in recorded}) > 1:
            versions = [data.view.packages.get(name) for data in runs]
            differing.append({"name": name, "versions": versions})
    return {"machines": machines, "packages": differing}


def _thin(data: RunData, name: str, max_points: int) -> series.Series:
    if data.thinned_points == max_points and name in data.thinned:
        return data.thinned[name]
    return series.thin(data.scalars[name], max_points)


def points_budget(runs: int, metrics: int, total: int = 8_000) -> int:
    """Points per curve so that a report holds about ``total`` points in all (each costs
    ~28 bytes of JSON; 8,000 keep a report of 20 runs under 1.5 MB with plotly.js): 4,000
    for one curve, 200 for 40 curves, never below 100 (a chart is ~460 pixels wide)."""
    return max(100, min(series.MAX_POINTS, total // max(1, runs * metrics)))


def _series_json(found: series.Series, compact: bool) -> dict[str, Sequence[float | None]]:
    if not compact:
        return found.as_json()
    # Clock times as offsets from the first (12 characters fewer per point); the page
    # adds wall0 back.
    wall0 = found.wall[0] if found.wall else 0.0
    return {
        "step": found.step,
        "time": [round(t, 3) for t in found.time],
        "wall0": [wall0],
        "wall": [round(t - wall0, 3) for t in found.wall],
        "value": [None if v is None else float(f"{v:.6g}") for v in found.value],
    }


def build(
    repo: GitRepo,
    runs: list[RunData],
    *,
    title: str = "gitexp report",
    metrics: list[str] | None = None,
    sections: tuple[str, ...] = SECTIONS,
    max_points: int = series.MAX_POINTS,
    compact: bool = False,
) -> Bundle:
    """The bundle for ``runs`` (in the order given); ``metrics`` keeps only those charts.

    ``max_points`` thins each curve; ``compact`` rounds its numbers (values to 6
    significant digits, times to milliseconds), which a report needs to stay small.
    """
    scalar_names = _ordered_keys([d.scalars for d in runs])
    histogram_names = sorted(_ordered_keys([d.histograms for d in runs]))
    if metrics is not None:
        scalar_names = [m for m in metrics if m in scalar_names]
        histogram_names = [m for m in metrics if m in histogram_names]
    bundle: Bundle = {
        "title": title,
        "generated": time.time(),
        "repository": os.path.basename(repo.root.rstrip(os.sep)),
        "gitexp_version": __version__,
        "sections": list(sections),
        "runs": [_run_json(d, PALETTE[i % len(PALETTE)]) for i, d in enumerate(runs)],
        "scalars": scalar_names,
        "series": {
            d.view.info.id: {
                name: _series_json(_thin(d, name, max_points), compact)
                for name in scalar_names
                if name in d.scalars
            }
            for d in runs
        },
        "histograms": _histograms_json(runs, histogram_names) if "histograms" in sections else [],
    }
    if "compare" in sections:
        rows = comparison.compare([d.view for d in runs])
        # _plain turns only values into text: each row keeps its shape.
        bundle["compare"] = cast("list[CompareRowJson]", _plain(comparison.rows_json(rows)))
    if "code" in sections:
        bundle["code"] = _code_json(repo, runs)
    if "environment" in sections:
        bundle["environment"] = cast("EnvironmentJson", _plain(_environment_json(runs)))
    return bundle
