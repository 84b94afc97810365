"""``gitexp report RUN... -o FILE``: one file that sums up an experiment."""

from __future__ import annotations

import argparse
import os
import textwrap
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_run_selection, open_repo, say
from gitexp.errors import UsageError
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project
from gitexp.read.resolve import resolve
from gitexp.read.selection import DEFAULT_CHART_RUNS, choose
from gitexp.read.trust import listed, usable
from gitexp.render import bundle as bundlemod
from gitexp.render import htmlpage
from gitexp.render import markdown as mdreport
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML or markdown report of runs",
        description=textwrap.fill(
            "Write one report of runs: the runs table, each metric's curves "
            "overlaid across the runs, histogram evolution over steps, the config and metrics "
            "that differ (best marked), the code diff of each run against the first, hardware "
            "and software, notes and tags. FILE.html is one self-contained page with "
            "interactive charts (plotly.js inlined; opens offline); FILE.md is markdown with "
            "PNG charts in FILE_files/. Without RUN, reports the first runs `gitexp ls` shows "
            f"(default {DEFAULT_CHART_RUNS}; --where, --sort, -n choose as in ls).",
            88,
        ),
    )
    parser.add_argument(
        "runs", nargs="*", metavar="RUN", help="run id, id prefix, name, latest or latest~N"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="report.html or report.md"
    )
    parser.add_argument("--title", metavar="TEXT", help="the report's title")
    parser.add_argument(
        "--intro", metavar="FILE.md", help="a text to open the report with (markdown, as written)"
    )
    parser.add_argument(
        "--group-by",
        metavar="KEY,...",
        help="also draw each metric as groups of runs (mean and std band) by these config keys",
    )
    parser.add_argument(
        "--metric",
        metavar="METRIC",
        help="the metric runs are ranked by (parallel coordinates, importance, best run); "
        "default: the first with a declared goal, else one whose name says it (loss, acc)",
    )
    parser.add_argument(
        "--baseline",
        metavar="RUN",
        help="the run the best run's config is compared with (default: the first run)",
    )
    add_run_selection(parser, "without RUN, report", DEFAULT_CHART_RUNS)
    add_example(
        parser,
        "gitexp report lr-0.01 lr-0.05 lr-0.2 -o report.html",
        "gitexp report --where '\"sweep\" in tags' -n 0 -o sweep.md",
        "gitexp report -n 0 --group-by lr --intro notes.md -o sweep.html",
    )
    parser.set_defaults(func=main)


def _names(runs: list[bundlemod.RunData]) -> str:
    names = [d.view.info.name for d in runs]
    return (
        ", ".join(names) if len(names) <= 5 else f"{', '.join(names[:5])} and {len(names) - 5} more"
    )


def _read_intro(path: str | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read --intro {path!r}: {exc}", "Give a UTF-8 text file."
        ) from None


def main(args: argparse.Namespace) -> int:
    kind = os.path.splitext(args.output)[1].lower()
    if kind not in (".html", ".htm", ".md"):
        raise UsageError(f"cannot write {args.output!r}: use a name ending in .html or .md")
    intro = _read_intro(args.intro)
    keys = [k.strip() for k in (args.group_by or "").split(",") if k.strip()]
    with open_repo() as repo:
        everywhere = list_runs(repo)
        every = in_project(repo, listed(everywhere, say), args.project)
        entries = usable(repo, choose(repo, every, args.runs, args.where, args.sort, args.n), say)
        if kind == ".md" or keys:  # markdown's images and groups' means take every row
            runs = [bundlemod.load_data(repo, entry) for entry in entries]
            names = {name for d in runs for name in d.scalars}
            budget = bundlemod.points_budget(len(runs), len(names))
        else:
            from gitexp.render.charts import seriescache

            runs, budget = seriescache.load(repo, entries, [e.commit for e in everywhere])
            names = {name for d in runs for name in d.scalars}
        title = args.title or "gitexp report: " + _names(runs)
        data = bundlemod.build(repo, runs, title=title, max_points=budget, compact=True)
        baseline = 0
        if args.baseline is not None:
            wanted = resolve(args.baseline, every).id
            ids = [d.view.info.id for d in runs]
            if wanted not in ids:
                raise UsageError(
                    f"--baseline {args.baseline!r} is not among the reported runs",
                    "Name it among the runs, or widen --where/-n.",
                )
            baseline = ids.index(wanted)
        if args.metric is not None and args.metric not in names:
            raise UsageError(f"no reported run logged a metric {args.metric!r}")
        from gitexp.read.media import media_file
        from gitexp.render.charts import panels  # numpy: loaded here, not for --help

        def read(run: bundlemod.RunData, ref: object) -> bytes:
            return media_file(repo, run.view.entry.commit, ref)

        # Rank correlations only: importing scikit-learn alone costs seconds; the forest's
        # view is `gitexp importance`'s.  Media are embedded in the HTML report alone (the
        # markdown report lists their keys).
        drawn = panels.add(data, runs, group_by=keys, metric=args.metric, baseline=baseline,
                           max_points=budget, forest=False,
                           read=read if kind != ".md" else None)  # fmt: skip
    if intro:
        data["intro"] = intro
        data["sections"].insert(0, "intro")
    folder = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(folder, exist_ok=True)
    if kind == ".md":
        images = mdreport.write(args.output, data, runs, drawn)
        say(f"wrote {args.output} and {plural(len(images), 'image')} ({plural(len(runs), 'run')})")
        return 0
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(htmlpage.page(htmlpage.REPORT, title, data))
    say(f"wrote {args.output} ({plural(len(runs), 'run')}); it opens offline in any browser")
    return 0
