"""The run record: ``run.json`` and the compact summary carried in each run commit.

A run commit's message ends with one ``gitexp-run: {...}`` line holding the run's
listing row (status, times, config scalars, metric summaries).  ``gitexp ls`` reads
exactly one object per run, the commit, instead of walking its tree; see
docs/format.md for every field.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitexp.model import values
from gitexp.model.overrides import doubtful
from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any, TypeGuard

    from gitexp.model.shapes import ListingRow, Resume, RowMetric, Scalar

FORMAT_VERSION = 1
REF_PREFIX = b"refs/gitexp/runs/"
META_DIR = ".gitexp"
ROW_MARKER = "gitexp-run: "
ROW_LIMIT = 32 * 1024  # a larger row drops config and metrics; readers fall back to blobs

RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
INTERRUPTED = "interrupted"
KILLED = "killed"
CRASHED = "crashed"
# A sweep trial its sweep stopped early, as Optuna's pruner decided (added in 0.3).
PRUNED = "pruned"
# A sweep trial its scheduler stopped: preempted, cancelled or out of time (added in 0.3).
PREEMPTED = "preempted"
STATUSES = (RUNNING, FINISHED, FAILED, INTERRUPTED, KILLED, CRASHED, PRUNED, PREEMPTED)


class RunInfo(Slotted):
    """The fields of ``.gitexp/run.json``."""

    _fields = (
        "id", "name", "status", "command", "cwd", "start", "end", "exit_code", "signal",
        "baseline", "branch", "dirty", "tags", "notes", "group", "job_type", "project",
        "source", "host", "extra", "format", "gitexp_version", "rerun_of", "resumes",
        "redacted", "overrides", "command_template", "hydra", "imported",
    )  # fmt: skip
    __slots__ = _fields

    def __init__(
        self,
        id: str,
        name: str,
        status: str,
        command: list[str],
        cwd: str,  # the working folder relative to the repository root ("" for the root)
        start: float,  # unix seconds
        end: float | None = None,
        exit_code: int | None = None,
        signal: str | None = None,
        baseline: str | None = None,
        branch: str | None = None,
        dirty: bool = False,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        project: str | None = None,
        source: str = "cli",  # "cli": gitexp run; "script": gitexp.init() without the wrapper
        host: str | None = None,
        extra: dict[str, object] | None = None,  # wandb arguments kept as given
        format: int = FORMAT_VERSION,
        gitexp_version: str = "",
        rerun_of: str | None = None,  # the run this one re-executed (``gitexp rerun``)
        # One entry per resumption: {time, from_step, code_changed, snapshot, host}.
        resumes: list[Resume] | None = None,
        # What was replaced by the secret placeholder: {"command": [{"index", "key"}],
        # "config": [dotted keys], "params": [those a rerun must be given]}.
        redacted: dict[str, Any] | None = None,
        # Each -p/--config override and whether the script used it (model/overrides.py).
        overrides: dict[str, Any] | None = None,
        command_template: list[str] | None = None,  # the command before ${...} expansion
        hydra: dict[str, Any] | None = None,  # a Hydra app's overrides and output folder
        # Where an imported run came from: {"from": "wandb", "id": ..., "path": ...}.
        imported: dict[str, Any] | None = None,
    ) -> None:
        self.id, self.name, self.status, self.command = id, name, status, command
        self.cwd, self.start, self.end, self.exit_code = cwd, start, end, exit_code
        self.signal, self.baseline, self.branch, self.dirty = signal, baseline, branch, dirty
        self.tags: list[str] = [] if tags is None else tags
        self.notes, self.group, self.job_type, self.project = notes, group, job_type, project
        self.source, self.host = source, host
        self.extra: dict[str, object] = {} if extra is None else extra
        self.format, self.gitexp_version, self.rerun_of = format, gitexp_version, rerun_of
        self.resumes: list[Resume] = [] if resumes is None else resumes
        self.redacted: dict[str, Any] = {} if redacted is None else redacted
        self.overrides: dict[str, Any] = {} if overrides is None else overrides
        self.command_template, self.hydra = command_template, hydra
        self.imported = imported

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    def to_json(self) -> str:
        data = self.fields()
        data["duration"] = self.duration
        # Added in 0.3 and written only when they say something, so that a run without
        # overrides, macros or Hydra reads exactly as before.
        for name in _ONLY_WHEN_SET:
            if not data[name]:
                del data[name]
        return values.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        data = values.loads(text)
        if not isinstance(data, dict):
            raise ValueError("run.json is not an object")
        data.pop("duration", None)
        _check_types(data)
        known = set(cls._fields)
        extra = {k: v for k, v in data.items() if k not in known}
        info = cls(**{k: v for k, v in data.items() if k in known})
        info.extra.update(extra)  # fields of newer minor versions are kept, not lost
        return info


_ONLY_WHEN_SET = ("overrides", "command_template", "hydra", "imported")

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "status": (str,),
    "command": (list,),
    "cwd": (str,),
    "start": (int, float),
    "end": (int, float, type(None)),
    "exit_code": (int, type(None)),
    "tags": (list,),
    "resumes": (list,),
    "redacted": (dict,),
    "overrides": (dict,),
    "command_template": (list, type(None)),
    "hydra": (dict, type(None)),
    "imported": (dict, type(None)),
    "extra": (dict,),
    "format": (int,),
}


def _check_types(data: dict[str, object]) -> None:
    """Reject a run.json whose fields have the wrong types (it was damaged or forged)."""
    for name, kinds in _FIELD_TYPES.items():
        if name in data and (not isinstance(data[name], kinds) or isinstance(data[name], bool)):
            raise ValueError(f"field {name!r} is a {type(data[name]).__name__}")


def make_row(
    info: RunInfo, config_flat: Mapping[str, object], metrics: dict[str, RowMetric]
) -> ListingRow:
    """The listing row stored in the commit message (everything ``ls`` shows or filters on)."""
    row: ListingRow = {
        "format": info.format,
        "id": info.id,
        "name": info.name,
        "status": info.status,
        "start": info.start,
        "end": info.end,
        "exit_code": info.exit_code,
        "baseline": info.baseline,
        "branch": info.branch,
        "dirty": info.dirty,
        "tags": info.tags,
        "group": info.group,
        "project": info.project,
        "command": info.command,
        "config": {k: v for k, v in config_flat.items() if _is_scalar(v)},
        "metrics": metrics,
    }
    doubted = {
        path: str(entry["status"])
        for path, entry in info.overrides.items()
        if isinstance(entry, dict) and doubtful(entry)
    }
    if doubted:
        row["unapplied"] = doubted
    if len(values.dumps(row)) > ROW_LIMIT:
        row["config"], row["metrics"], row["truncated"] = {}, {}, True
    return row


def _is_scalar(value: object) -> TypeGuard[Scalar]:
    return value is None or isinstance(value, (str, int, float, bool))


def commit_message(info: RunInfo, row: ListingRow, event: str) -> str:
    command = " ".join(info.command)
    if len(command) > 200:
        command = command[:197] + "..."
    return (
        f"gitexp: {info.name} {event} ({info.status})\n\n"
        f"{command}\n\n"
        f"{ROW_MARKER}{values.dumps(row)}\n"
    )


def row_text(message: str) -> str | None:
    """The listing row of a run commit as written (its JSON text), None when it has none."""
    at = message.rfind("\n" + ROW_MARKER)
    if at < 0:
        return None
    return message[at + 1 + len(ROW_MARKER) :].split("\n", 1)[0]


def parse_row(message: str) -> ListingRow | None:
    """The listing row of a run commit, or None when the message carries none."""
    line = row_text(message)
    return None if line is None else parse_row_text(line)


def parse_row_text(line: str) -> ListingRow | None:
    """A listing row from its JSON text (:func:`row_text`), None when it is no object."""
    try:
        data = line.encode()
    except UnicodeEncodeError:  # a lone surrogate in the text: json alone reads it
        try:
            return _row_or_none(values.loads(line))
        except (ValueError, RecursionError):
            return None
    return parse_row_bytes(data)


def row_bytes(body: bytes) -> bytes | None:
    """:func:`row_text` of a commit message not yet decoded (its invalid UTF-8 is the
    row's business: :func:`parse_row_bytes` reads it as the decoded text would read)."""
    at = body.rfind(_ROW_MARKER_BYTES)
    if at < 0:
        return None
    return body[at + len(_ROW_MARKER_BYTES) :].split(b"\n", 1)[0]


def parse_row_bytes(line: bytes) -> ListingRow | None:
    """:func:`parse_row_text` of ``line.decode("utf-8", "replace")``, without decoding a
    row orjson reads (a cold ``ls`` reads 100,000 rows)."""
    try:  # through orjson where it reads as json
        return _row_or_none(values.loads_bytes(line))
    except (ValueError, RecursionError):  # RecursionError: a forged row nested too deeply
        return None


def _row_or_none(row: object) -> ListingRow | None:
    # The JSON boundary: a row is taken as written; readers check what they rely on.
    return cast("ListingRow", row) if isinstance(row, dict) else None


# ASCII: found at the same place in a message before and after decoding it.
_ROW_MARKER_BYTES = ("\n" + ROW_MARKER).encode()


#: Set by a sweep's executor (sweep/executor.py) in a trial's environment, read by
#: record/manifest.py into ``hardware.json``'s ``host.executor``: where the trial runs.
EXECUTOR_ENV = "GITEXP_EXECUTOR"
EXECUTOR_JOB_ENV = "GITEXP_EXECUTOR_JOB"
