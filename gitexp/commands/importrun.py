"""``gitexp import wandb|mlflow|tensorboard PATH``: runs other trackers recorded, as runs.

(The module is not named ``import``: that is a Python keyword.)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.model.ids import short_id
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.importers.write import ImportedRun

SOURCES = ("wandb", "mlflow", "tensorboard")


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import runs recorded by wandb, MLflow or TensorBoard",
        description="Import runs another tracker recorded as gitexp runs: config, history, "
        "summary, output and system metrics, with their origin and original id in run.json "
        "(`imported`). Importing again changes nothing: a run imported before is named and "
        "skipped. An imported run has no code (an importer cannot invent it): restore, rerun "
        "and branch refuse it. Its baseline is the commit the source recorded, when this "
        "repository has it. See docs/integrations.md.",
    )
    parser.add_argument("source", choices=SOURCES, help="the tracker: wandb, mlflow or tensorboard")
    parser.add_argument(
        "path",
        metavar="PATH",
        help="wandb: a wandb/ folder or one run folder; mlflow: an mlruns/ folder or a "
        "tracking URI (sqlite:///mlflow.db); tensorboard: a log folder (one run per "
        "folder holding event files)",
    )
    parser.add_argument(
        "--wandb-python",
        metavar="PYTHON",
        help="wandb: the interpreter that reads the run log (it needs the wandb package; "
        "default: this one). Without wandb only the files/ folder is imported",
    )
    parser.add_argument("--json", action="store_true", help="print what was imported as JSON")
    add_example(
        parser,
        "gitexp import wandb wandb/",
        "gitexp import mlflow mlruns/",
        "gitexp import mlflow sqlite:///mlflow.db",
        "gitexp import tensorboard runs/",
    )
    parser.set_defaults(func=main)


def _read(source: str, path: str, python: str | None) -> list[ImportedRun]:
    if source == "wandb":
        from gitexp.importers import wandbrun as wandb

        return wandb.import_all(path, python)
    if source == "mlflow":
        from gitexp.importers import mlflowrun as mlflow

        return mlflow.import_store(path)
    from gitexp.importers import tbevents as tensorboard

    return tensorboard.import_logdir(path)


def main(args: argparse.Namespace) -> int:
    from gitexp.importers.write import already_imported, write_imported

    report: list[dict[str, object]] = []
    with open_repo() as repo:
        for run in _read(args.source, args.path, args.wandb_python):
            earlier = already_imported(repo, run)
            run_id = write_imported(repo, run) if earlier is None else None
            report.append(
                {
                    "from": run.source,
                    "original_id": run.original_id,
                    "id": run_id or earlier,
                    "name": run.name,
                    "imported": run_id is not None,
                    "notes": run.notes_for_user,
                }
            )
    if args.json:
        print_json({"runs": report})
        return 0
    made = [entry for entry in report if entry["imported"]]
    for entry in report:
        what = f"{args.source} run {entry['original_id']}"
        if entry["imported"]:
            say(f"imported {what} as {short_id(str(entry['id']))} {entry['name']}")
        else:
            say(f"{what}: imported before as {short_id(str(entry['id']))}; unchanged")
        for note in entry["notes"] if entry["imported"] else []:  # type: ignore[attr-defined]
            say(f"  note: {note}")
    if not report:
        say(f"no {args.source} runs found in {args.path}")
    elif not made:
        say(f"nothing imported: {plural(len(report), 'run')}, all imported before")
    else:
        say(f"imported {len(made)} of {plural(len(report), 'run')}; see them with `gitexp ls`")
    return 0
