"""wandb run folders as gitexp runs: ``gitexp import wandb PATH``.

A run folder (``wandb/offline-run-*``, ``wandb/run-*``) holds a transaction log,
``run-<id>.wandb``, with everything the run logged (config, history, summary, system
metrics, output, exit), and, for synced runs and older wandb versions, a ``files/``
folder (``config.yaml``, ``wandb-summary.json``, ``wandb-metadata.json``,
``output.log``, ``requirements.txt``).  The log's records are wandb's protobuf messages:
only wandb's schema reads them, so they are decoded by an interpreter that has the
wandb package (``wandb_records.py`` run as a script: this one when wandb is installed
here, else the one ``--wandb-python`` names).  Without one, what ``files/`` holds is
imported and the run's notes say the history was not read.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from typing import Any

from gitexp.errors import UsageError
from gitexp.importers.write import ImportedRun
from gitexp.model import values
from gitexp.model.record import CRASHED, FAILED, FINISHED

READER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wandb_records.py")
NO_SCHEMA = 3  # wandb_records.py: wandb is not importable by that interpreter
_FILES = ("config.yaml", "wandb-summary.json", "wandb-metadata.json", "requirements.txt")


def run_folders(path: str) -> list[str]:
    """The run folders at ``path``: itself when it is one, else those below it."""
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a folder", "Name a wandb/ folder or one run folder.")
    if _is_run_folder(path):
        return [os.path.abspath(path)]
    found: list[str] = []
    for folder, dirs, _files in os.walk(path):
        for name in sorted(dirs):
            if _is_run_folder(os.path.join(folder, name)):
                found.append(os.path.abspath(os.path.join(folder, name)))
        dirs[:] = [d for d in dirs if not d.startswith(("run-", "offline-run-"))]
    if not found:
        raise UsageError(
            f"no wandb run folder under {path}",
            "Run folders are named run-* or offline-run-* (inside a wandb/ folder).",
        )
    return sorted(found)


def _is_run_folder(path: str) -> bool:
    name = os.path.basename(os.path.normpath(path))
    return name.startswith(("run-", "offline-run-")) and os.path.isdir(path)


Records = list[dict[str, Any]]


def log_records(folders: list[str], python: str | None) -> dict[str, Records | str]:
    """Each folder's transaction-log records, or why they could not be read (no log, no
    wandb, a damaged file); one interpreter reads every log, as it starts in seconds."""
    logs: dict[str, str] = {}
    found: dict[str, Records | str] = {}
    for folder in folders:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".wandb"))
        if names:
            logs[folder] = os.path.join(folder, names[0])
        else:
            found[folder] = "the run folder has no .wandb log"
    if not logs:
        return found
    try:
        done = subprocess.run(
            [python or sys.executable, READER, *logs.values()],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise UsageError(
            f"could not start {python}: {exc.strerror or exc}",
            "Name an interpreter that has the wandb package, e.g. "
            "--wandb-python ~/envs/wandb/bin/python.",
        ) from None
    if done.returncode == NO_SCHEMA:
        return {folder: NEEDS_WANDB for folder in folders}
    if done.returncode != 0:
        raise UsageError(
            f"could not read wandb's run logs: {done.stderr.strip()[-500:]}",
            "Check that --wandb-python names an interpreter with the wandb package.",
        )
    order = list(logs)
    for folder in order:
        found[folder] = []
    for line in done.stdout.splitlines():
        item = values.loads(line)
        folder = order[int(item["log"])]
        if "error" in item:
            found[folder] = f"its log could not be read ({item['error']})"
        elif isinstance(found[folder], list):
            found[folder].append(item["record"])  # type: ignore[union-attr]
    return found


NEEDS_WANDB = (
    "reading wandb's run log needs the wandb package (pip install wandb, or --wandb-python "
    "PYTHON naming an interpreter that has it)"
)


def import_all(path: str, python: str | None = None) -> list[ImportedRun]:
    folders = run_folders(path)
    records = log_records(folders, python)
    return [import_folder(folder, records.get(folder, NEEDS_WANDB)) for folder in folders]


def import_folder(folder: str, records: Records | str) -> ImportedRun:
    """One run folder as an ImportedRun (the log's records first, then ``files/``)."""
    original_id = os.path.basename(folder).rsplit("-", 1)[-1]
    files = _read_files(os.path.join(folder, "files"))
    metadata = _json(files.get("wandb-metadata.json"))
    run = ImportedRun(
        source="wandb",
        original_id=original_id,
        path=folder,
        name=original_id,
        start=_time(metadata.get("startedAt")) or os.path.getmtime(folder),
        config=_config(files.get("config.yaml")),
        summary=_json(files.get("wandb-summary.json")),
        command=_command(metadata),
        host=metadata.get("host") if isinstance(metadata.get("host"), str) else None,
        baseline=_git_commit(metadata),
        packages=_packages(files.get("requirements.txt")),
    )
    output = os.path.join(folder, "files", "output.log")
    if os.path.isfile(output):
        with open(output, "rb") as handle:
            run.output = handle.read()
    for name, data in files.items():
        if name not in _FILES:
            run.files[name] = data
    if isinstance(records, str):
        run.notes_for_user.append(f"history and system metrics not read: {records}")
        if "wandb-summary.json" not in files:  # wandb writes it as a run ends
            run.status = CRASHED
        if isinstance(run.summary.get("_runtime"), (int, float)):
            run.end = run.start + float(run.summary["_runtime"])
        return run
    _apply_records(run, records)
    return run


def _read_files(folder: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    if not os.path.isdir(folder):
        return found
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            if relative == "output.log" or os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                found[relative] = handle.read()
    return found


def _json(data: bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        loaded = values.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _config(data: bytes | None) -> dict[str, Any]:
    """wandb's config.yaml: ``key: {value: v, desc: ...}``, plus its own ``_wandb``."""
    if not data:
        return {}
    import yaml

    loaded = yaml.safe_load(data.decode("utf-8", "replace"))
    if not isinstance(loaded, dict):
        return {}
    return {
        str(key): entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
        for key, entry in loaded.items()
        if key != "_wandb" and key != "wandb_version"
    }


def _command(metadata: dict[str, Any]) -> list[str]:
    program = metadata.get("program") or metadata.get("codePath")
    args = metadata.get("args")
    listed = [str(arg) for arg in args] if isinstance(args, list) else []
    return ["python", str(program), *listed] if program else []


def _git_commit(metadata: dict[str, Any]) -> str | None:
    git = metadata.get("git")
    commit = git.get("commit") if isinstance(git, dict) else None
    return commit if isinstance(commit, str) else None


def _packages(data: bytes | None) -> str | None:
    if not data:
        return None
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return "\n".join(sorted(line for line in lines if "==" in line)) + "\n"


def _time(text: object) -> float | None:
    """An RFC 3339 time (protobuf's JSON form: nanoseconds, ``Z``) as unix seconds."""
    if not isinstance(text, str) or not text:
        return None
    text = text.replace("Z", "+00:00")
    if "." in text:  # Python before 3.11 reads at most 6 digits of a fraction
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _items(entries: object) -> dict[str, Any]:
    """A record's ``item``/``update`` list as ``{key: value}`` (nested keys joined with /)."""
    out: dict[str, Any] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        key = entry.get("key") or "/".join(entry.get("nested_key") or [])
        try:
            out[str(key)] = _value(values.loads(entry.get("value_json", "null")))
        except ValueError:
            continue
    return out


def _value(value: Any) -> Any:
    """wandb's histogram (``values`` counts per ``bins`` edges) as gitexp's."""
    if isinstance(value, dict) and value.get("_type") == "histogram":
        counts, bins = value.get("values"), value.get("bins")
        if isinstance(counts, list) and isinstance(bins, list) and len(bins) == len(counts) + 1:
            return {"_type": "histogram", "bins": bins, "counts": [int(c) for c in counts]}
    return value


def _apply_records(run: ImportedRun, records: list[dict[str, Any]]) -> None:
    output: list[str] = []
    exited = False
    for record in records:
        if "run" in record:
            _apply_run(run, record["run"])
        elif "config" in record:
            config = _items(record["config"].get("update"))
            run.config.update({k: v for k, v in config.items() if k != "_wandb"})
        elif "environment" in record:
            _apply_environment(run, record["environment"])
        elif "history" in record:
            row = _items(record["history"].get("item"))
            if isinstance(row.get("_step"), int):
                row["_time"] = row.pop("_timestamp", None) or run.start
                run.rows.append(row)
        elif "summary" in record:
            summary = _items(record["summary"].get("update"))
            run.summary.update({k: v for k, v in summary.items() if not k.startswith("_")})
        elif "stats" in record:
            stats = record["stats"]
            when = _time(stats.get("timestamp")) or run.start
            sample = {f"system/{k}": v for k, v in _items(stats.get("item")).items()}
            run.system_rows.append(
                {"_step": len(run.system_rows), "_time": when, "_runtime": when - run.start,
                 **sample}
            )  # fmt: skip
        elif "output_raw" in record or "output" in record:
            line = (record.get("output_raw") or record.get("output") or {}).get("line", "")
            output.append(str(line))
        elif "exit" in record:
            exited = True
            exit_code = int(record["exit"].get("exit_code", 0))
            run.exit_code = exit_code
            run.status = FINISHED if exit_code == 0 else FAILED
            runtime = record["exit"].get("runtime")
            if isinstance(runtime, (int, float)):
                run.end = run.start + float(runtime)
    if not exited:
        run.status = CRASHED
        run.notes_for_user.append("the log has no exit record: imported as crashed")
    if run.end is None:
        times = [float(row["_time"]) for row in run.rows if isinstance(row.get("_time"), float)]
        run.end = max(times, default=run.start)
    if output and run.output is None:
        run.output = "".join(output).encode()


def _apply_run(run: ImportedRun, data: dict[str, Any]) -> None:
    run.name = str(data.get("display_name") or run.name)
    run.project = data.get("project") or run.project
    run.group = data.get("run_group") or data.get("group") or run.group
    run.job_type = data.get("job_type") or run.job_type
    run.notes = data.get("notes") or run.notes
    run.tags = [str(tag) for tag in data.get("tags") or run.tags]
    run.host = data.get("host") or run.host
    run.start = _time(data.get("start_time")) or run.start
    config = _items((data.get("config") or {}).get("update"))
    run.config.update({k: v for k, v in config.items() if k != "_wandb"})
    git = data.get("git")
    if isinstance(git, dict) and git.get("commit"):
        run.baseline = str(git["commit"])


def _apply_environment(run: ImportedRun, data: dict[str, Any]) -> None:
    if data.get("program") and not run.command:
        run.command = ["python", str(data.get("code_path") or data["program"])]
        run.command += [str(arg) for arg in data.get("args") or []]
    git = data.get("git")
    if isinstance(git, dict) and git.get("commit") and not run.baseline:
        run.baseline = str(git["commit"])
