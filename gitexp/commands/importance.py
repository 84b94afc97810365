"""``gitexp importance METRIC``: which config keys go with a metric, across runs."""

from __future__ import annotations

import argparse
import os
import textwrap
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_run_selection, open_repo, print_json, say
from gitexp.errors import UsageError
from gitexp.model.config import flatten_config
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project
from gitexp.read.runview import load_run
from gitexp.read.selection import choose
from gitexp.read.trust import listed, usable
from gitexp.render.cells import printable
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.render.bundle import Bundle
    from gitexp.render.charts.importance import Importance
    from gitexp.render.charts.spec import Chart

BAR = 24  # characters of the longest bar in the terminal


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "importance",
        help="which config keys go with a metric, across runs",
        description=textwrap.fill(
            "For each config key, Spearman's rank correlation between the key's value and "
            "METRIC's summary value over the chosen runs (+1: the metric rises with the key, "
            "-1: it falls, 0: no monotonic relation), and, when scikit-learn is installed "
            "(pip install 'gitexp[importance]'), a random forest's feature importances, "
            "which also see string keys and interactions. Without --keys, every config key "
            "whose value differs between the runs. Without --runs, all runs `gitexp ls` "
            "shows (--where, --sort, -n choose as in ls). -o FILE.png, FILE.svg or "
            "FILE.html draws the correlations as a chart.",
            88,
        ),
    )
    parser.add_argument("metric", metavar="METRIC", help="a metric's name (its summary value)")
    parser.add_argument("--keys", metavar="KEY,...", help="the config keys to rate")
    parser.add_argument(
        "--runs", nargs="+", metavar="RUN", help="the runs to use (id prefix, name, latest~N)"
    )
    add_run_selection(parser, "without --runs, use", 0)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="also draw FILE.png, FILE.svg or FILE.html"
    )
    add_example(
        parser,
        "gitexp importance val/loss",
        "gitexp importance val/acc --keys lr,batch,optimizer --where 'status == \"finished\"'",
        "gitexp importance val/acc -o importance.png",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gitexp.render.charts import across, importance

    kind = os.path.splitext(args.output or "")[1].lower()
    if args.output and kind not in (".png", ".svg", ".html"):
        raise UsageError(f"cannot write {args.output!r}: use a name ending in .png, .svg or .html")
    keys = [k.strip() for k in (args.keys or "").split(",") if k.strip()] or None
    with open_repo() as repo:
        every = in_project(repo, listed(list_runs(repo), say), args.project)
        entries = usable(repo, choose(repo, every, args.runs, args.where, args.sort, args.n), say)
        views = [load_run(repo, entry) for entry in entries]
    configs = [flatten_config(v.config) for v in views]
    summaries = [v.summary for v in views]
    if not any(args.metric in s for s in summaries):
        raise UsageError(
            f"no chosen run has a metric {args.metric!r}",
            "`gitexp ls` shows each run's metrics; importance reads their summary values.",
        )
    for key in keys or []:
        if not any(key in c for c in configs):
            raise UsageError(f"no chosen run has config key {key!r}", "Config keys are dotted.")
    columns, target = across.for_importance(configs, summaries, args.metric, keys)
    if not columns:
        raise UsageError(
            f"the config of these {plural(len(views), 'run')} is the same in every key",
            "Choose runs that differ (a sweep), or name keys with --keys.",
        )
    rows = importance.importances(columns, target)
    if args.json:
        print_json(importance.as_json(args.metric, rows))
    else:
        print(_table(args.metric, rows))
    if args.output:
        _draw(args.output, kind, importance.chart(args.metric, rows))
        say(f"wrote {args.output}")
    return 0


def _table(metric: str, rows: list[Importance]) -> str:
    from tabulate import tabulate

    forest = any(r.forest is not None for r in rows)
    body = []
    for row in rows:
        rho = "—" if row.spearman is None else f"{row.spearman:+.3f}"
        bar = "" if row.spearman is None else "█" * round(abs(row.spearman) * BAR)
        cells = [printable(row.key), str(row.runs), rho, bar]
        if forest:
            cells.append("—" if row.forest is None else f"{row.forest:.3f}")
        body.append(cells)
    headers = ["config key", "runs", "Spearman ρ", ""] + (["forest"] if forest else [])
    if forest:
        note = "and a random forest's importances (shares of 1)"
    else:
        note = "pip install 'gitexp[importance]' adds a random forest's importances"
    table = tabulate(body, headers=headers, disable_numparse=True)
    return f"{table}\n{printable(metric)}: Spearman's rank correlation with each key; {note}"


def _draw(path: str, kind: str, chart: Chart) -> None:
    from gitexp.render import htmlpage
    from gitexp.render.charts import mplfig, plotlyfig

    if kind == ".html":
        data: Bundle = {"title": chart.title, "sections": ["figures"]}
        data["figures"] = [plotlyfig.figure(chart)]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(htmlpage.page(htmlpage.REPORT, chart.title, data))
    else:
        mplfig.save(path, [chart])
