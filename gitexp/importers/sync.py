"""What a run's script logged through TensorBoard or DVCLive, added to the run's history
when the run ends (docs/integrations.md, "TensorBoard and DVCLive").

Read once, at the end, from the files those tools wrote during the run: TensorBoard's
event files (``init(sync_tensorboard=True)``: any folder under the run's working folder;
``gitexp run --tensorboard DIR``: DIR) and DVCLive's ``dvclive/plots/metrics/*.tsv``
(and ``dvclive/params.yaml`` as config).  Files older than the run are an earlier run's
and left alone.  Their rows are merged by step; when the script also logged with
``gitexp.log``, they follow its last row (their own step kept as ``global_step``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from gitexp.model import values
from gitexp.model.record import RunInfo
from gitexp.record.live import LiveDir
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

DVCLIVE_DIR = "dvclive"
STEP_KEY = "global_step"
_SLACK = 1.0  # seconds: a file system's time stamps may lag the clock that timed the start


def dvclive_dir(work: str) -> str:
    return os.path.join(work, DVCLIVE_DIR)


def wanted(extra: dict[str, object], work: str, start: float) -> bool:
    """Whether a run has anything to sync (one stat for a run that uses neither tool)."""
    if extra.get("sync_tensorboard") or extra.get("tensorboard"):
        return True
    return _fresh(os.path.join(dvclive_dir(work), "metrics.json"), start) or _fresh(
        os.path.join(dvclive_dir(work), "plots", "metrics"), start
    )


def _fresh(path: str, start: float) -> bool:
    try:
        return os.path.getmtime(path) >= start - _SLACK
    except OSError:
        return False


def tensorboard_rows(
    folders: list[str], start: float
) -> tuple[dict[int, dict[str, Any]], list[str]]:
    from gitexp.importers import tbevents

    rows: dict[int, dict[str, Any]] = {}
    notes: list[str] = []
    for root in folders:
        if not os.path.isdir(root):
            notes.append(f"no TensorBoard folder {root}")
            continue
        for folder in tbevents.event_folders(root):
            if tbevents.newest_event_time(folder) < start - _SLACK:
                continue  # an earlier run's events
            found, _first, _last, told = tbevents.read_folder(folder)
            notes.extend(told + tbevents.image_note(folder))
            for row in found:
                merged = rows.setdefault(int(row["_step"]), {})
                merged.update({k: v for k, v in row.items() if k not in ("_step", "_runtime")})
    return rows, notes


def dvclive_rows(work: str, start: float) -> dict[int, dict[str, Any]]:
    """DVCLive's per-step metrics: ``plots/metrics/<name>.tsv`` with ``step`` and the
    value in the column named after the metric's last path part."""
    import csv  # only for a run that used DVCLive (14 ms on a cold start)

    root = os.path.join(dvclive_dir(work), "plots", "metrics")
    rows: dict[int, dict[str, Any]] = {}
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(folder, name)
            if not name.endswith(".tsv") or not _fresh(path, start):
                continue
            key = os.path.relpath(path, root)[: -len(".tsv")].replace(os.sep, "/")
            with open(path, encoding="utf-8", newline="") as handle:
                for record in csv.DictReader(handle, delimiter="\t"):
                    column = key.rsplit("/", 1)[-1]
                    if "step" not in record or column not in record:
                        continue
                    try:
                        rows.setdefault(int(record["step"]), {})[key] = float(record[column])
                    except ValueError:
                        continue
    return rows


def dvclive_params(work: str, start: float) -> dict[str, Any]:
    path = os.path.join(dvclive_dir(work), "params.yaml")
    if not _fresh(path, start):
        return {}
    import yaml

    with open(path, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    return loaded if isinstance(loaded, dict) else {}


def tool_rows(
    extra: dict[str, object], root: str, work: str, start: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows TensorBoard and DVCLive hold for this run, in step order, and notes."""
    notes: list[str] = []
    rows: dict[int, dict[str, Any]] = {}
    folders: list[str] = []
    named = extra.get("tensorboard")
    if isinstance(named, list):
        folders = [os.path.join(root, str(path)) for path in named]
    elif extra.get("sync_tensorboard"):
        folders = [work]
    if folders:
        rows, notes = tensorboard_rows(folders, start)
    for step, row in dvclive_rows(work, start).items():
        rows.setdefault(step, {}).update(row)
    return [{"_step": step, **rows[step]} for step in sorted(rows)], notes


def as_history_lines(
    rows: list[dict[str, Any]], last_step: int | None, start: float, now: float
) -> list[dict[str, Any]]:
    """``rows`` as lines of the run's history: their own steps when the run logged none,
    else after its last step with the tools' step kept as ``global_step``."""
    out: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        line = dict(row)
        if last_step is not None:
            line[STEP_KEY] = row["_step"]
            line["_step"] = last_step + 1 + index
        line.setdefault("_time", now)
        line["_runtime"] = max(0.0, float(line["_time"]) - start)
        out.append(line)
    return out


def sync_tools(
    live: LiveDir, info: RunInfo, root: str, last_step: int | None, warn: Callable[[str], None]
) -> None:
    """Append the tools' rows to the live history (and DVCLive's params to the config)
    before the final commit reads them; a failure is a warning, never the run's end."""
    work = os.path.normpath(os.path.join(root, info.cwd))
    if not wanted(info.extra, work, info.start):
        return
    try:
        rows, notes = tool_rows(info.extra, root, work, info.start)
        params = dvclive_params(work, info.start)
    except Exception as exc:  # a tool's files never cost the run its record
        warn(f"could not read the TensorBoard or DVCLive files of the run: {exc}")
        return
    for note in notes:
        warn(f"TensorBoard: {note}")
    if params:
        config = live.read_json("config.json") or {}
        for key, value in params.items():
            config.setdefault(str(key), value)
        live.write_json("config.json", config)
    if not rows:
        return
    lines = as_history_lines(rows, last_step, info.start, time.time())
    path = live.file("history.jsonl")
    with open(path, "ab") as handle:
        if handle.tell() and not _ends_with_newline(path):
            handle.write(b"\n")  # a torn last line stays one bad line, skipped
        handle.write("".join(values.dumps(line) + "\n" for line in lines).encode())


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
