"""``gitexp compare RUN...``: several runs side by side, the best value of each metric marked."""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_project_option, open_repo, print_json, say
from gitexp.errors import UsageError
from gitexp.model.ids import short_id
from gitexp.read.compare import MINIMIZE, Row, compare, rows_json
from gitexp.read.listing import list_runs
from gitexp.read.projects import in_project
from gitexp.read.resolve import resolve
from gitexp.read.runview import RunView, load_run
from gitexp.read.trust import usable
from gitexp.render import tables
from gitexp.render.cells import fmt_duration, fmt_value
from gitexp.render.tables import REQUIRED, Column
from gitexp.render.terminal import colour_enabled, status_style, table_width
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers

BEST_MARK = " *"
_LABEL_CAP = 40  # a row's label keeps its [min]/[max] goal as long as it can
_RUN_FLOOR = 14  # a run's column is cut to this before a run is left out


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare runs side by side: config and metrics that differ, best marked",
        description=textwrap.fill(
            "Compare runs side by side: one column per run, one row per config key "
            "and summary metric whose values differ (--all: every row). The best value of each "
            "metric is marked with *: lowest for a metric declared with "
            "gitexp.define_metric(name, goal='minimize'), highest for goal='maximize'; without "
            "a declaration the goal follows the name (loss, error, mse, ...: minimize; acc, "
            "accuracy, f1, auc, score, ...: maximize; others: none).",
            88,
        ),
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="run id, id prefix, name, latest or latest~N"
    )
    parser.add_argument(
        "--all", action="store_true", help="every config key and metric, not only differences"
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_project_option(parser)
    add_example(
        parser,
        "gitexp compare latest~2 latest~1 latest",
        "gitexp compare lr-0.01 lr-0.05 lr-0.2 --all",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        runs = in_project(repo, list_runs(repo), args.project)  # names resolve among them
        entries = [resolve(text, runs) for text in args.runs]
        seen: set[str] = set()
        for text, entry in zip(args.runs, entries, strict=True):
            if entry.id in seen:
                raise UsageError(f"{text!r} names a run given twice ({short_id(entry.id)})")
            seen.add(entry.id)
        views = [load_run(repo, entry) for entry in usable(repo, entries, say)]
    rows = compare(views, all_rows=args.all)
    if args.json:
        print_json(
            {
                "runs": [
                    {"id": v.info.id, "name": v.info.name, "commit": v.entry.commit.decode()}
                    for v in views
                ],
                "rows": rows_json(rows),
            }
        )
        return 0
    text, left_out, needed = render(views, rows)
    print(text)
    if left_out:
        say(
            f"{plural(len(left_out), 'run')} left out to fit "
            f"{plural(table_width() or 0, 'character')} "
            f"({', '.join(left_out)}); compare fewer runs, use --json, or a wider "
            f"terminal (COLUMNS={needed})"
        )
    return 0


def _label(row: Row) -> str:
    prefix = "" if row.section == "run" else f"{row.section}."
    goal = {MINIMIZE: " [min]"}.get(row.goal or "", " [max]" if row.goal else "")
    return f"{prefix}{row.key}{goal}"


def _cell(row: Row, index: int) -> str:
    value = row.values[index]
    if (
        row.section == "run"
        and row.key == "duration"
        and isinstance(value, (int, float, type(None)))
    ):
        text = fmt_duration(value)
    else:
        text = fmt_value(value)
    return text + (BEST_MARK if index in row.best else "")


def _style(cell: str) -> str | None:
    """Best values stand out; a status cell is coloured as in ``ls``."""
    return "bold green" if cell.endswith(BEST_MARK) else status_style(cell)


def render(views: list[RunView], rows: list[Row]) -> tuple[str, list[str], int]:
    """The table and its notes, the runs left out, the width that would show them all.

    One column per run; on a narrow terminal every run's column is cut a little first,
    then the runs named last are left out rather than the table wrapping into an
    unreadable block."""
    # The labels are what a reader looks up: only the cap cuts them, never the fitting.
    columns = [Column("", [_label(row) for row in rows], cap=_LABEL_CAP, shrink=False)]
    for i, view in enumerate(views):
        header = f"{view.info.name} ({short_id(view.info.id)})"
        cells = [_cell(row, i) for row in rows]
        keep = REQUIRED if i == 0 else len(views) - i  # a comparison shows one run at least
        columns.append(Column(header, cells, keep, style=_style, full_name=header))
    fitted = tables.render(columns, table_width(), colour_enabled(), floor=_RUN_FLOOR)
    notes = []
    if not any(row.section != "run" for row in rows):
        notes.append("Config and metrics are the same in these runs (--all shows them).")
    if any(row.best for row in rows):
        notes.append(
            "* best value ([min]: lower is better, [max]: higher is better; goals from "
            "gitexp.define_metric or the metric's name)"
        )
    return "\n".join([fitted.text, *notes]), fitted.left_out, fitted.needed
