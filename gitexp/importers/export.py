"""Runs as tables for other tools: ``gitexp export --format csv|parquet``.

The wide table has one row per run (id, name, project, status, times, tags, each config
key as ``config.<dotted key>``, each summary value as ``summary.<key>``); the long one
(``--history KEY...``) one row per run, step and key.  CSV is written with the csv
module (no pandas needed); Parquet needs pandas and pyarrow.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from typing import Any

from gitexp.errors import UsageError
from gitexp.git.repo import GitRepo
from gitexp.model.summary import row_value
from gitexp.read.listing import RunEntry
from gitexp.read.projects import with_projects
from gitexp.read.runview import load_run, read_history
from gitexp.read.selection import complete_row

FORMATS = ("csv", "parquet")
RUN_COLUMNS = ["id", "name", "project", "status", "start", "end", "group", "tags", "baseline"]
HISTORY_COLUMNS = ["run", "name", "step", "key", "value"]


def format_of(given: str | None, output: str | None) -> str:
    """The format asked for, else the one the output file's suffix names, else csv."""
    if given:
        return given
    if output and output.lower().endswith((".parquet", ".pq")):
        return "parquet"
    return "csv"


def runs_table(repo: GitRepo, entries: list[RunEntry]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per run: its fields, flattened config and summary."""
    rows: list[dict[str, Any]] = []
    config_keys: dict[str, None] = {}
    summary_keys: dict[str, None] = {}
    for entry in with_projects(repo, [complete_row(repo, e) for e in entries]):
        row = entry.row
        out: dict[str, Any] = {name: row.get(name) for name in RUN_COLUMNS}
        out["id"] = entry.id
        out["tags"] = ",".join(str(tag) for tag in row.get("tags") or [])
        for key, value in (row.get("config") or {}).items():
            config_keys[f"config.{key}"] = None
            out[f"config.{key}"] = value
        for key, metric in (row.get("metrics") or {}).items():
            if isinstance(metric, dict) and "last" in metric:  # the value ls shows
                summary_keys[f"summary.{key}"] = None
                out[f"summary.{key}"] = row_value(metric)
        rows.append(out)
    return [*RUN_COLUMNS, *sorted(config_keys), *sorted(summary_keys)], rows


def history_table(
    repo: GitRepo, entries: list[RunEntry], keys: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per run, step and key (of ``keys``) the run logged."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        view = load_run(repo, entry)
        for logged in read_history(repo, view):
            for key in keys:
                if key in logged:
                    value = logged[key]
                    rows.append(
                        {
                            "run": entry.id,
                            "name": view.info.name,
                            "step": logged.get("_step"),
                            "key": key,
                            "value": json.dumps(value) if isinstance(value, dict) else value,
                        }
                    )
    return HISTORY_COLUMNS, rows


def _cell(value: object) -> object:
    """A CSV cell: lists as JSON, None as empty, the rest as csv writes it."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def csv_text(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def write_parquet(path: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (pandas names its own error otherwise)
    except ImportError:
        raise UsageError(
            "--format parquet needs pandas and pyarrow, which are not installed",
            "Install them: pip install 'gitexp[pandas]' pyarrow (or export --format csv).",
        ) from None
    frame = pd.DataFrame([[_parquet_cell(row.get(c)) for c in columns] for row in rows])
    frame.columns = columns
    frame.to_parquet(path, index=False)


def _parquet_cell(value: object) -> object:
    """Parquet columns hold one type: lists and objects as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def check_output(path: str | None, fmt: str) -> None:
    if fmt == "parquet" and not path:
        raise UsageError("--format parquet writes a file: name it with -o FILE")
    if path and os.path.isdir(path):
        raise UsageError(f"{path} is a folder", "Name a file with -o, e.g. -o runs.csv.")
