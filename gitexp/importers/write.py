"""Writing an imported run: one commit on ``refs/gitexp/runs/<id>``, built from what a
source (wandb, MLflow, TensorBoard) recorded.

An importer cannot invent code: the commit's snapshot is empty, ``snapshot.json`` says
``imported``, and restore, rerun and branch refuse the run (reproduce/imported.py).
The run id is derived from the source and its original id, so importing the same run
again, here or in a teammate's clone, names the same ref: the create-only ref update
then refuses it and nothing changes (docs/format.md, "Imported runs").
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass, field
from typing import Any

from gitexp._version import __version__
from gitexp.git.repo import MODE_FILE, GitRepo, ObjectId
from gitexp.model import config as configmod
from gitexp.model import history as historymod
from gitexp.model import redact, validate, values
from gitexp.model.ids import ID_ALPHABET, ID_LENGTH
from gitexp.model.record import FINISHED, META_DIR, REF_PREFIX, RunInfo, commit_message, make_row
from gitexp.render.cells import printable

# A file of the source's files folder kept in the run's tree; larger ones are listed only.
MAX_KEPT_FILE = 1024 * 1024
IMPORTED_EVENT = "imported"


@dataclass
class ImportedRun:
    """What a source recorded about one run, as an importer read it."""

    source: str  # "wandb", "mlflow", "tensorboard"
    original_id: str  # the source's own id of the run (unique within the source)
    path: str  # where it was read from (a folder or a tracking URI)
    name: str
    start: float
    end: float | None = None
    status: str = FINISHED
    exit_code: int | None = None
    project: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    command: list[str] = field(default_factory=list)
    host: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)  # each with an int "_step"
    system_rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # the source's own summary
    output: bytes | None = None
    packages: str | None = None
    baseline: str | None = None  # the commit the source says the code was at
    files: dict[str, bytes] = field(default_factory=dict)  # kept under .gitexp/files/
    large_files: dict[str, str] = field(default_factory=dict)  # path -> local file: to DVC
    notes_for_user: list[str] = field(default_factory=list)  # what was not imported, and why


def run_id_for(source: str, original_id: str) -> str:
    """The gitexp id of an imported run: the same for the same source run everywhere."""
    digest = hashlib.sha256(f"gitexp-import\0{source}\0{original_id}".encode()).digest()
    return "".join(ID_ALPHABET[byte & 31] for byte in digest[:ID_LENGTH])


def already_imported(repo: GitRepo, run: ImportedRun) -> str | None:
    """The id of the run ``run`` was imported as before, or None."""
    run_id = run_id_for(run.source, run.original_id)
    return run_id if repo.read_ref(REF_PREFIX + run_id.encode()) is not None else None


def write_imported(repo: GitRepo, run: ImportedRun) -> str | None:
    """Write ``run`` as one finished run commit; its id, or None when it exists already."""
    run_id = run_id_for(run.source, run.original_id)
    ref = REF_PREFIX + run_id.encode()
    if repo.read_ref(ref) is not None:
        return None
    baseline = run.baseline if run.baseline and _has_commit(repo, run.baseline) else None
    info = RunInfo(
        id=run_id,
        name=redact.scrub_text(run.name) or run_id,
        status=run.status,
        command=redact.redact_command(run.command)[0],
        cwd="",
        start=run.start,
        end=run.end if run.end is not None else run.start,
        exit_code=run.exit_code,
        baseline=baseline,
        tags=run.tags,
        notes=run.notes,
        group=run.group,
        job_type=run.job_type,
        project=run.project,
        source="import",
        host=run.host or socket.gethostname(),
        gitexp_version=__version__,
        imported={"from": run.source, "id": run.original_id, "path": run.path},
    )
    if run.baseline and baseline is None:
        info.imported = {**(info.imported or {}), "commit": run.baseline}  # not here
    # Secrets in the source's config are replaced as in a recorded run's (model/redact.py).
    allow = tuple(repo.config_values("gitexp", "allowSecret"))
    config, keys = redact.redact_config(run.config, allow)
    if keys:
        info.redacted["config"] = keys
    history = _history(run.rows)
    system = _history(run.system_rows)
    summary = {k: v for k, v in run.summary.items() if not k.startswith("_")}
    meta = _meta_files(repo, info, config, history, system, summary, run)
    entries = [(f"{META_DIR}/".encode() + path, mode, sha) for path, mode, sha in meta]
    if run.large_files:  # DVC is imported only for a run that has such files
        from gitexp.importers.artifacts import store_large

        notes = run.notes_for_user
        entries += store_large(repo, run.source, run.original_id, run.large_files, notes)
    root = repo.write_tree(entries)
    row = make_row(info, configmod.flatten_config(config), history.row_metrics(summary))
    parents = [baseline.encode()] if baseline else []
    commit = repo.write_commit(root, parents, commit_message(info, row, IMPORTED_EVENT))
    if not repo.create_ref(ref, commit, f"gitexp: {IMPORTED_EVENT}".encode()):
        return None  # another import of the same run won the race
    return run_id


def _has_commit(repo: GitRepo, sha: str) -> bool:
    if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
        return False
    return repo.has_object(sha.encode())


def _history(rows: list[dict[str, Any]]) -> historymod.History:
    """Rows in step order, each normalized as ``gitexp.log`` stores values."""
    history = historymod.History()
    for row in sorted(rows, key=lambda r: int(r["_step"])):
        clean = {k: v for k, v in row.items() if _storable(v)}
        history.add_line((values.dumps(clean) + "\n").encode())
    return history


def _storable(value: object) -> bool:
    """A value as docs/format.md defines history values: scalars, lists of them, and
    gitexp's histograms; a source's other media (images, tables) are left out."""
    if isinstance(value, dict):
        return value.get("_type") == "histogram" and isinstance(value.get("counts"), list)
    if isinstance(value, list):
        return all(v is None or isinstance(v, (str, int, float, bool)) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _meta_files(
    repo: GitRepo,
    info: RunInfo,
    config: dict[str, Any],
    history: historymod.History,
    system: historymod.History,
    summary: dict[str, Any],
    run: ImportedRun,
) -> list[tuple[bytes, int, ObjectId]]:
    snapshot: dict[str, Any] = {
        "dirty": False,
        "modified": 0,
        "deleted": 0,
        "untracked": 0,
        "skipped": [],
        "imported": True,
    }
    files: dict[str, bytes] = {
        "run.json": info.to_json().encode(),
        "config.yaml": configmod.dump_yaml(config).encode(),
        "metrics.json": (values.dumps(history.summary_json(summary), indent=2) + "\n").encode(),
        "snapshot.json": (values.dumps(snapshot, indent=2) + "\n").encode(),
    }
    if run.output is not None:
        files["output.log"] = redact.scrub_text(run.output.decode("utf-8", "replace")).encode()
    if run.packages:
        files["packages.txt"] = run.packages.encode()
    entries = [(name.encode(), MODE_FILE, repo.write_blob(data)) for name, data in files.items()]
    for folder, rows in (("history", history), ("system", system)):
        chunks = [*rows.take_full_chunks()]
        current = rows.current_chunk()
        if current is not None:
            chunks.append(current)
        for index, data in chunks:
            name = f"{folder}/{historymod.chunk_name(index)}".encode()
            entries.append((name, MODE_FILE, repo.write_blob(data)))
    for path, data in sorted(run.files.items()):
        # A source's file names (a tracking server's, a folder's) are input: only a path
        # every reader accepts goes into the run's tree (model/validate.py).
        problem = validate.check_path(path)
        if problem:
            run.notes_for_user.append(f"{printable(path[:200])} left out: {problem}")
        elif len(data) <= MAX_KEPT_FILE:
            entries.append((f"files/{path}".encode(), MODE_FILE, repo.write_blob(data)))
        else:
            run.notes_for_user.append(f"{path} ({len(data)} bytes) left out: over 1 MiB")
    return sorted(entries)
