"""``gitexp plot METRIC...``: metric curves of runs, in the terminal or to a file."""

from __future__ import annotations

import argparse
import os
import shutil
import textwrap
import time
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_run_selection, open_repo, say
from gitexp.errors import UsageError
from gitexp.model.ids import short_id
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project
from gitexp.read.selection import DEFAULT_CHART_RUNS, choose
from gitexp.read.trust import listed, usable
from gitexp.render import bundle as bundlemod
from gitexp.render import htmlpage, series, staticplot, textchart
from gitexp.render.cells import printable
from gitexp.render.terminal import colour_enabled
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


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
    parser.add_argument("metrics", nargs="+", metavar="METRIC", help="metric names or globs")
    parser.add_argument(
        "--runs", nargs="+", metavar="RUN", help="the runs to plot (id prefix, name, latest~N)"
    )
    add_run_selection(parser, "without --runs, plot", DEFAULT_CHART_RUNS)
    parser.add_argument(
        "--x",
        choices=series.X_AXES,
        default="step",
        help="x axis: step (default), time (seconds since the run started) or wall (clock)",
    )
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
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if not 0 <= args.smooth < 1:
        raise UsageError(f"--smooth must be at least 0 and below 1, got {args.smooth}")
    kind = os.path.splitext(args.output or "")[1].lower()
    if args.output and kind not in (*staticplot.FORMATS, ".html"):
        raise UsageError(f"cannot write {args.output!r}: use a name ending in .png, .svg or .html")
    with open_repo() as repo:
        every = in_project(repo, listed(list_runs(repo), say), args.project)
        entries = usable(repo, choose(repo, every, args.runs, args.where, args.sort, args.n), say)
        runs = [bundlemod.load_data(repo, entry) for entry in entries]
        scalars, histograms = _pick_metrics(args.metrics, runs)
        if kind == ".html":
            data = bundlemod.build(
                repo,
                runs,
                title=f"gitexp plot: {', '.join(scalars + histograms)}",
                metrics=scalars + histograms,
                sections=("charts", "histograms"),
            )
            _write_text(args.output, htmlpage.page(htmlpage.REPORT, data["title"], data))
            say(f"wrote {args.output} ({plural(len(runs), 'run')})")
            return 0
    labels = _labels(runs)
    if kind in staticplot.FORMATS:
        _save_image(args, runs, labels, scalars, histograms)
        say(f"wrote {args.output} ({plural(len(runs), 'run')})")
        return 0
    print(_text_charts(args, runs, labels, scalars, histograms))
    return 0


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


def _save_image(
    args: argparse.Namespace,
    runs: list[bundlemod.RunData],
    labels: list[str],
    scalars: list[str],
    histograms: list[str],
) -> None:
    if histograms and (scalars or len(histograms) > 1):
        raise UsageError(
            "an image holds either metric curves or one histogram metric",
            f"Plot {histograms[0]!r} on its own, or all of them with -o FILE.html.",
        )
    if histograms:
        metric = histograms[0]
        hists = [d.histograms[metric] for d in runs if metric in d.histograms]
        span = series.histogram_range(hists)
        low, high = span or (0.0, 1.0)
        heatmaps = []
        for i, data in enumerate(runs):
            if metric in data.histograms:
                steps, grid = series.regrid(data.histograms[metric], low, high)
                heatmaps.append(staticplot.HeatmapPanel(labels[i], _color(i), steps, grid))
        staticplot.save_histograms(args.output, metric, heatmaps, low, high)
        return
    panels = [
        (
            metric,
            [
                staticplot.Curve(labels[i], _color(i), data.scalars[metric])
                for i, data in enumerate(runs)
                if metric in data.scalars
            ],
        )
        for metric in scalars
    ]
    staticplot.save_curves(args.output, panels, x=args.x, smooth=args.smooth)


def _text_charts(
    args: argparse.Namespace,
    runs: list[bundlemod.RunData],
    labels: list[str],
    scalars: list[str],
    histograms: list[str],
) -> str:
    colour = colour_enabled()  # the same rules as every table (NO_COLOR, FORCE_COLOR)
    width = min(shutil.get_terminal_size((100, 24)).columns, 120)
    charts = []
    xlabel = {"time": "seconds since start", "wall": "clock time"}.get(args.x, "step")
    xfmt = _clock if args.x == "wall" else textchart.fmt_number
    for metric in scalars:
        lines = []
        for label, data in zip(labels, runs, strict=True):
            found = data.scalars.get(metric)
            if found is not None:
                values = series.smooth(found.value, args.smooth)
                lines.append(textchart.Line(label, found.x(args.x), values))
        charts.append(
            textchart.render(metric, lines, width=width, colour=colour, xlabel=xlabel, xfmt=xfmt)
        )
    for metric in histograms:
        charts.append(f"{printable(metric)}: a histogram; draw it with -o FILE.png or FILE.html")
    return "\n\n".join(charts)


def _clock(stamp: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(stamp))


def _write_text(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
