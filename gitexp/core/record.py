"""The run record: ``run.json`` and the compact summary carried in each run commit.

A run commit's message ends with one ``gitexp-run: {...}`` line holding the run's
listing row (status, times, config scalars, metric summaries).  ``gitexp ls`` reads
exactly one object per run, the commit, instead of walking its tree; see
docs/format.md for every field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gitexp.core import values

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
STATUSES = (RUNNING, FINISHED, FAILED, INTERRUPTED, KILLED, CRASHED)


@dataclass
class RunInfo:
    """The fields of ``.gitexp/run.json``."""

    id: str
    name: str
    status: str
    command: list[str]
    cwd: str  # the working folder relative to the repository root ("" for the root)
    start: float  # unix seconds
    end: float | None = None
    exit_code: int | None = None
    signal: str | None = None
    baseline: str | None = None
    branch: str | None = None
    dirty: bool = False
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    group: str | None = None
    job_type: str | None = None
    project: str | None = None
    source: str = "cli"  # "cli": gitexp run; "script": gitexp.init() without the wrapper
    host: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # wandb arguments kept as given
    format: int = FORMAT_VERSION
    gitexp_version: str = ""
    rerun_of: str | None = None  # the run this one re-executed (``gitexp rerun``)
    # One entry per resumption: {time, from_step, code_changed, snapshot, host}.
    resumes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    def to_json(self) -> str:
        data = asdict(self)
        data["duration"] = self.duration
        return values.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        data = values.loads(text)
        if not isinstance(data, dict):
            raise ValueError("run.json is not an object")
        data.pop("duration", None)
        _check_types(data)
        known = {name for name in cls.__dataclass_fields__}
        extra = {k: v for k, v in data.items() if k not in known}
        info = cls(**{k: v for k, v in data.items() if k in known})
        info.extra.update(extra)  # fields of newer minor versions are kept, not lost
        return info


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
    "extra": (dict,),
    "format": (int,),
}


def _check_types(data: dict[str, Any]) -> None:
    """Reject a run.json whose fields have the wrong types (it was damaged or forged)."""
    for name, kinds in _FIELD_TYPES.items():
        if name in data and (not isinstance(data[name], kinds) or isinstance(data[name], bool)):
            raise ValueError(f"field {name!r} is a {type(data[name]).__name__}")


def make_row(info: RunInfo, config_flat: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The listing row stored in the commit message (everything ``ls`` shows or filters on)."""
    row: dict[str, Any] = {
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
        "command": info.command,
        "config": {k: v for k, v in config_flat.items() if _is_scalar(v)},
        "metrics": metrics,
    }
    if len(values.dumps(row)) > ROW_LIMIT:
        row["config"], row["metrics"], row["truncated"] = {}, {}, True
    return row


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def commit_message(info: RunInfo, row: dict[str, Any], event: str) -> str:
    command = " ".join(info.command)
    if len(command) > 200:
        command = command[:197] + "..."
    return (
        f"gitexp: {info.name} {event} ({info.status})\n\n"
        f"{command}\n\n"
        f"{ROW_MARKER}{values.dumps(row)}\n"
    )


def parse_row(message: str) -> dict[str, Any] | None:
    """The listing row of a run commit, or None when the message carries none."""
    at = message.rfind("\n" + ROW_MARKER)
    if at < 0:
        return None
    line = message[at + 1 + len(ROW_MARKER) :].split("\n", 1)[0]
    try:
        row = values.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None
