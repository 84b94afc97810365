"""Listing runs: one object read per run, cached by commit id.

Each run commit carries its listing row in its message, so ``gitexp ls`` reads the run
refs and one commit per run.  Commits are immutable, so a cache keyed by commit id is
always valid: ``<git common dir>/gitexp/cache/rows.json`` maps commit ids to rows, and
a second ``ls`` reads one file plus the refs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gitexp.adapters.git import GitRepo
from gitexp.core import values
from gitexp.core.live import LiveDir, live_root
from gitexp.core.record import FORMAT_VERSION, REF_PREFIX, RUNNING, parse_row

CACHE_NAME = "rows.json"


@dataclass
class RunEntry:
    """A run as the listing sees it."""

    id: str
    commit: bytes
    row: dict[str, Any]

    @property
    def start(self) -> float:
        start = self.row.get("start")
        return float(start) if isinstance(start, (int, float)) else 0.0

    @property
    def name(self) -> str:
        return str(self.row.get("name") or "")

    @property
    def status(self) -> str:
        return str(self.row.get("status") or "")


def _cache_path(repo: GitRepo) -> str:
    return os.path.join(repo.commondir, "gitexp", "cache", CACHE_NAME)


def _load_cache(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = values.loads(handle.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(path: str, cache: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(values.dumps(cache))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs speed


def list_runs(repo: GitRepo) -> list[RunEntry]:
    """Every run in the repository, newest start first."""
    refs = repo.list_refs(REF_PREFIX)
    cache_path = _cache_path(repo)
    cache = _load_cache(cache_path)
    fresh: dict[str, Any] = {}
    missed = False
    entries: list[RunEntry] = []
    for name, sha in refs.items():
        run_id = name.decode("utf-8", "replace")
        key = sha.decode()
        row = cache.get(key)
        if not isinstance(row, dict):  # absent, or a damaged cache: read git instead
            missed = True
            row = _read_row(repo, sha, run_id)
        fresh[key] = row
        entries.append(RunEntry(run_id, sha, row))
    if missed or len(fresh) != len(cache):
        _save_cache(cache_path, fresh)
    _mark_live(repo, entries)
    entries.sort(key=lambda entry: entry.start, reverse=True)
    return entries


def run_entry(repo: GitRepo, run_id: str, sha: bytes) -> RunEntry:
    """One run as :func:`list_runs` shows it, read from its commit alone."""
    entry = RunEntry(run_id, sha, _read_row(repo, sha, run_id))
    _mark_live(repo, [entry])
    return entry


def _read_row(repo: GitRepo, sha: bytes, run_id: str) -> dict[str, Any]:
    try:
        row = parse_row(repo.commit_message(sha))
    except Exception:
        row = None
    if row is None:
        return {"id": run_id, "name": "", "status": "corrupt", "start": 0}
    if int(row.get("format", 1)) > FORMAT_VERSION:
        row["status"] = f"{row.get('status')} (newer format)"
    return row


def _mark_live(repo: GitRepo, entries: list[RunEntry]) -> None:
    """A ``running`` run recorded here is shown as running only while its recorder lives."""
    root = live_root(repo.commondir)
    for entry in entries:
        if entry.status != RUNNING:
            continue
        live = LiveDir(os.path.join(root, entry.id))
        if live.exists() and not (live.recorder_alive() or live.child_alive()):
            entry.row = dict(entry.row, status="crashed?")
