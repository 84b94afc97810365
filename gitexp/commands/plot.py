"""``gitexp plot METRIC...``: metric curves of runs, in the terminal or to a file."""

from __future__ import annotations

import argparse
import os
import shutil
import textwrap
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_run_selection, open_repo, say
from gitexp.errors import UsageError
from gitexp.model.config import flatten_config
from gitexp.model.ids import short_id
from gitexp.read.compare import declared_definitions
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project
from gitexp.read.runview import load_run
from gitexp.read.selection import DEFAULT_CHART_RUNS, choose
from gitexp.read.trust import listed, usable
from gitexp.render import bundle as bundlemod
from gitexp.render import htmlpage, series, staticplot
from gitexp.render.cells import printable
from gitexp.render.charts.spec import BANDS
from gitexp.render.terminal import colour_enabled
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.render.charts.across import Table
    from gitexp.render.charts.spec import Chart


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot metric curves of runs (terminal, PNG, SVG or HTML)",
        description=textwrap.fill(
            "Plot metrics over steps or time, one line per run. Without -o, draws "
            "a compact text chart per metric in the terminal; -o FILE.png or FILE.svg writes an "
            "image (matplotlib), -o FILE.html an interactive page that opens offline (plotly). "
            "METRIC may be a glob (train/*). Without --runs, plots the first runs that "
            f"`gitexp ls` shows (default {DEFAULT_CHART_RUNS}, newest first; --where, --sort and "
            "-n choose as in ls). A histogram metric (gitexp.Histogram, gitexp.watch) is drawn "
            "as a heatmap over steps in an image or HTML file.",
            88,
        ),
    )
    parser.add_argument("metrics", nargs="*", metavar="METRIC", help="metric names or globs")
    parser.add_argument(
        "--runs", nargs="+", metavar="RUN", help="the runs to plot (id prefix, name, latest~N)"
    )
    add_run_selection(parser, "without --runs, plot", DEFAULT_CHART_RUNS)
    parser.add_argument(
        "--x",
        metavar="AXIS",
        help="x axis: step, time (seconds since the run started), wall (clock) or a logged "
        "metric's name (paired by step); default: the step_metric that define_metric "
        "declared for the metric, else step",
    )
    parser.add_argument(
        "--group-by",
        metavar="KEY,...",
        help="draw runs that share these config keys' values (or `group`, the run's "
        "group) as one mean line with a band",
    )
    parser.add_argument(
        "--band",
        choices=BANDS,
        default="std",
        help="a group's band: std (default; sample standard deviation), sem (standard "
        "error of the mean), minmax or none",
    )
    parser.add_argument(
        "--parallel",
        metavar="KEY,...",
        help="parallel coordinates instead of curves: one axis per config key or metric "
        "(its summary value), one line per run",
    )
    parser.add_argument(
        "--color", metavar="METRIC", help="with --parallel: colour the lines by this metric"
    )
    parser.add_argument(
        "--scatter",
        nargs=2,
        metavar=("CONFIG_KEY", "METRIC"),
        help="a scatter plot instead of curves: each run's metric (summary value) against "
        "its config value",
    )
    parser.add_argument("--log-x", action="store_true", help="logarithmic x axis")
    parser.add_argument("--log-y", action="store_true", help="logarithmic y axis")
    parser.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="F",
        help="exponential smoothing, 0 (none, default) to 0.99 (very smooth)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write FILE.png, FILE.svg or FILE.html"
    )
    add_example(
        parser,
        "gitexp plot loss accuracy",
        "gitexp plot loss --runs lr-0.01 lr-0.05 lr-0.2 --smooth 0.6 -o loss.png",
        "gitexp plot 'val/*' --where 'config.lr < 0.1' --x time -o curves.html",
        "gitexp plot loss --group-by lr --band sem -n 0 -o groups.png",
        "gitexp plot --parallel lr,batch,optimizer,val/acc --color val/acc -n 0 -o pc.svg",
        "gitexp plot --scatter lr val/acc -n 0",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # numpy and the chart modules load here, not when the parser is built (--help).
    from gitexp.render.charts import build, mplfig, plotlyfig, text

    if not 0 <= args.smooth < 1:
        raise UsageError(f"--smooth must be at least 0 and below 1, got {args.smooth}")
    kind = os.path.splitext(args.output or "")[1].lower()
    if args.output and kind not in (*staticplot.FORMATS, ".html"):
        raise UsageError(f"cannot write {args.output!r}: use a name ending in .png, .svg or .html")
    if args.parallel is not None or args.scatter is not None:
        return _across(args, kind)
    if args.color is not None:
        raise UsageError("--color colours parallel coordinates", "Add --parallel KEY,...")
    if not args.metrics:
        raise UsageError("name the metrics to plot", "For example: gitexp plot loss accuracy")
    grouped = bool(args.group_by)
    with open_repo() as repo:
        every = in_project(repo, listed(list_runs(repo), say), args.project)
        entries = usable(repo, choose(repo, every, args.runs, args.where, args.sort, args.n), say)
        runs = [bundlemod.load_data(repo, entry) for entry in entries]
        scalars, histograms = _pick_metrics(args.metrics, runs)
        specs = _specs(args, runs, scalars)
        if kind == ".html":
            plain = not grouped and not args.log_x and not args.log_y
            plain = plain and all(spec.x_axis in build.TIME_AXES for spec in specs)
            data = bundlemod.build(
                repo,
                runs,
                title=f"gitexp plot: {', '.join(scalars + histograms)}",
                metrics=scalars + histograms,
                sections=("charts", "histograms") if plain else ("figures", "histograms"),
            )
            if not plain:
                data["figures"] = [plotlyfig.figure(spec) for spec in specs]
            _write_text(args.output, htmlpage.page(htmlpage.REPORT, data["title"], data))
            say(f"wrote {args.output} ({plural(len(runs), 'run')})")
            return 0
    labels = _labels(runs)
    if kind in staticplot.FORMATS:
        if histograms and (scalars or len(histograms) > 1):
            raise UsageError(
                "an image holds either metric curves or one histogram metric",
                f"Plot {histograms[0]!r} on its own, or all of them with -o FILE.html.",
            )
        if histograms:
            _save_histogram(args.output, runs, labels, histograms[0])
        else:
            mplfig.save(args.output, specs)
        say(f"wrote {args.output} ({plural(len(runs), 'run')})")
        return 0
    colour = colour_enabled()  # the same rules as every table (NO_COLOR, FORCE_COLOR)
    width = min(shutil.get_terminal_size((100, 24)).columns, 120)
    charts = [text.render(spec, width=width, colour=colour) for spec in specs]
    charts += [
        f"{printable(m)}: a histogram; draw it with -o FILE.png or FILE.html" for m in histograms
    ]
    print("\n\n".join(charts))
    return 0


def _specs(
    args: argparse.Namespace, runs: list[bundlemod.RunData], metrics: list[str]
) -> list[Chart]:
    """One chart spec per metric, on the x axis asked for (or the metric's step_metric)."""
    from gitexp.render.charts import build

    logged = {name for d in runs for name in d.scalars}
    if args.x is not None and args.x not in build.TIME_AXES and args.x not in logged:
        raise UsageError(
            f"--x {args.x!r} is neither step, time, wall nor a metric these runs logged",
            "Use --x step, --x time, --x wall, or the name of a logged metric.",
        )
    definitions = declared_definitions([d.view for d in runs])
    keys = [k.strip() for k in (args.group_by or "").split(",") if k.strip()]
    if args.group_by is not None and not keys:
        raise UsageError("--group-by needs config keys", "For example: --group-by lr,optimizer")
    configs = [flatten_config(d.view.config) for d in runs]
    for key in keys:
        if key != "group" and not any(key in config for config in configs):
            raise UsageError(
                f"no chosen run has config key {key!r} to group by",
                "Config keys are dotted (model.width); `gitexp show RUN` lists them.",
            )
    labels = _labels(runs)
    curves: list[build.RunCurves] = []
    for label, data, config in zip(labels, runs, configs, strict=True):
        values = {**config, "group": data.view.info.group} if "group" in keys else config
        group = build.group_label(values, keys) if keys else None
        color = _color(len(curves))
        curves.append(build.RunCurves(label, color, data.scalars, group))
    specs = []
    for metric in metrics:
        axis = args.x or build.step_metric(metric, definitions) or "step"
        if axis not in build.TIME_AXES and axis not in logged:
            axis = "step"  # a declared step_metric that was never logged
        specs.append(
            build.metric_chart(
                metric,
                curves,
                x_axis=axis,
                band=args.band,
                smooth=args.smooth,
                log_x=args.log_x,
                log_y=args.log_y,
            )
        )
    return specs


def _across(args: argparse.Namespace, kind: str) -> int:
    """``--parallel`` and ``--scatter``: one value per run (config, summary metrics)."""
    from gitexp.render.charts import across

    if args.metrics or args.group_by or (args.parallel is not None and args.scatter):
        raise UsageError(
            "--parallel and --scatter draw one value per run: give one of them, without "
            "metric names or --group-by"
        )
    with open_repo() as repo:
        every = in_project(repo, listed(list_runs(repo), say), args.project)
        entries = usable(repo, choose(repo, every, args.runs, args.where, args.sort, args.n), say)
        views = [load_run(repo, entry) for entry in entries]
    configs = [flatten_config(v.config) for v in views]
    summaries = [v.summary for v in views]
    names = [v.info.name for v in views]
    labels = [
        f"{name} ({short_id(v.info.id)})" if names.count(name) > 1 else name
        for name, v in zip(names, views, strict=True)
    ]
    colors = [_color(i) for i in range(len(views))]
    axes = [k.strip() for k in (args.parallel or "").split(",") if k.strip()]
    if args.scatter:
        keys = list(args.scatter)
    else:
        if not axes:
            raise UsageError("--parallel needs keys", "For example: --parallel lr,batch,val/acc")
        keys = axes + ([args.color] if args.color and args.color not in axes else [])
    config_keys = [k for k in keys if any(k in c for c in configs)]
    metrics = [k for k in keys if k not in config_keys]
    missing = [m for m in metrics if not any(m in s for s in summaries)]
    if missing:
        raise UsageError(
            f"no config key or metric {' or '.join(repr(m) for m in missing)} in the chosen runs",
            "Config keys are dotted (model.width); metrics are read from each run's summary.",
        )
    table = across.table(labels, colors, configs, summaries, config_keys, metrics)
    if args.scatter:
        _scatter(args, kind, table, args.scatter[0], args.scatter[1])
    else:
        _parallel(args, kind, table, axes)  # --color's metric colours, it is no axis
    return 0


def _parallel(args: argparse.Namespace, kind: str, table: Table, keys: list[str]) -> None:
    from gitexp.render.cells import table as text_table
    from gitexp.render.charts import parallel

    chart = parallel.build(table, keys, args.color)
    if not args.output:  # every cell escaped: run names and values come from the runs
        rows = [[label, *(table.columns[k][i] for k in keys)]
                for i, label in enumerate(table.labels)]  # fmt: skip
        print(text_table(rows, ["run", *keys]))
        say("parallel coordinates are drawn in a file: add -o FILE.svg, FILE.png or FILE.html")
        return
    if kind == ".png":
        parallel.save_png(args.output, chart)
    elif kind == ".svg":
        _write_text(args.output, parallel.svg(chart))
    else:
        title = "gitexp plot: parallel coordinates"
        data: bundlemod.Bundle = {"title": title, "sections": ["parallel"]}
        data["parallel"] = parallel.svg(chart)
        _write_text(args.output, htmlpage.page(htmlpage.REPORT, data["title"], data))
    say(f"wrote {args.output} ({plural(len(table.labels), 'run')})")


def _scatter(args: argparse.Namespace, kind: str, table: Table, key: str, metric: str) -> None:
    import numpy as np

    from gitexp.render.cells import table as text_table
    from gitexp.render.charts import across, importance, mplfig, plotlyfig
    from gitexp.render.charts.spec import Chart, Trace

    xs, ys = table.columns[key], across.numbers(table.columns[metric])
    ticks = None
    if across.is_categorical(xs):
        names = sorted({str(x) for x in xs if x is not None})
        ticks = [(float(i), n) for i, n in enumerate(names)]
        x = [None if v is None else float(names.index(str(v))) for v in xs]
    else:
        x = across.numbers(xs)
    keep = [i for i in range(len(xs)) if x[i] is not None and ys[i] is not None]
    rho = importance.spearman([x[i] or 0.0 for i in keep], [ys[i] or 0.0 for i in keep])
    verdict = f"Spearman's rank correlation: {rho:+.3f}" if rho is not None and not ticks else ""
    if not args.output:
        rows = sorted(
            ([table.labels[i], str(xs[i]), ys[i]] for i in keep),
            key=lambda row: (row[1], row[2]),
        )
        print(text_table(rows, ["run", key, metric]))  # every cell escaped
        if verdict:
            print(verdict)
        return
    trace = Trace(metric, _color(0), np.asarray([x[i] for i in keep], dtype=float),
                  np.asarray([ys[i] for i in keep], dtype=float),
                  texts=[table.labels[i] for i in keep])  # fmt: skip
    chart = Chart(metric + (f" ({verdict})" if verdict else ""), key, [trace], key,
                  args.log_x, args.log_y, markers=True, x_ticks=ticks)  # fmt: skip
    if kind == ".html":
        title = f"gitexp plot: {metric} against {key}"
        data: bundlemod.Bundle = {"title": title, "sections": ["figures"]}
        data["figures"] = [plotlyfig.figure(chart)]
        _write_text(args.output, htmlpage.page(htmlpage.REPORT, data["title"], data))
    else:
        mplfig.save(args.output, [chart])
    say(f"wrote {args.output} ({plural(len(keep), 'run')})")


def _pick_metrics(
    patterns: list[str], runs: list[bundlemod.RunData]
) -> tuple[list[str], list[str]]:
    scalar_names = [n for d in runs for n in d.scalars]
    histogram_names = [n for d in runs for n in d.histograms]
    found, missing = series.match_metrics(patterns, scalar_names + histogram_names)
    if missing:
        available = list(dict.fromkeys(scalar_names + histogram_names))
        shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
        raise UsageError(
            f"no metric {' or '.join(repr(m) for m in missing)} in the chosen runs",
            f"Logged metrics: {shown}" if available else "These runs logged no metrics.",
        )
    histogram_set = set(histogram_names)
    return [m for m in found if m not in histogram_set], [m for m in found if m in histogram_set]


def _labels(runs: list[bundlemod.RunData]) -> list[str]:
    names = [d.view.info.name for d in runs]
    return [
        f"{name} ({short_id(d.view.info.id)})" if names.count(name) > 1 else name
        for name, d in zip(names, runs, strict=True)
    ]


def _color(index: int) -> str:
    return bundlemod.PALETTE[index % len(bundlemod.PALETTE)]


def _save_histogram(
    path: str, runs: list[bundlemod.RunData], labels: list[str], metric: str
) -> None:
    hists = [d.histograms[metric] for d in runs if metric in d.histograms]
    span = series.histogram_range(hists)
    low, high = span or (0.0, 1.0)
    heatmaps = []
    for i, data in enumerate(runs):
        if metric in data.histograms:
            steps, grid = series.regrid(data.histograms[metric], low, high)
            heatmaps.append(staticplot.HeatmapPanel(labels[i], _color(i), steps, grid))
    staticplot.save_histograms(path, metric, heatmaps, low, high)


def _write_text(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
