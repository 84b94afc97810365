"""Deleting runs: their refs only; git's own gc reclaims the objects later."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gitexp.errors import RepositoryStateError
from gitexp.git.repo import GitRepo
from gitexp.model.ids import short_id
from gitexp.model.record import REF_PREFIX
from gitexp.read.listing import RunEntry
from gitexp.record.live import LiveDir, live_root


@dataclass
class Removed:
    entry: RunEntry
    ref: str
    deleted: bool  # False: changed by someone else meanwhile, left alone


def running_here(repo: GitRepo, entry: RunEntry) -> bool:
    """Whether the run is being recorded on this machine right now."""
    live = LiveDir(os.path.join(live_root(repo.commondir), entry.id))
    return live.exists() and (live.recorder_alive() or live.child_alive())


def remove_runs(
    repo: GitRepo, entries: list[RunEntry], dry_run: bool, force: bool
) -> list[Removed]:
    """Delete each run's ref with compare-and-swap; check everything before deleting any."""
    unique = list({entry.id: entry for entry in entries}.values())
    live = [entry for entry in unique if running_here(repo, entry)]
    if live and not force:
        names = ", ".join(f"{short_id(e.id)} {e.name}" for e in live)
        raise RepositoryStateError(
            f"{'this run is' if len(live) == 1 else 'these runs are'} still running here: {names}",
            "Wait for it to end (or stop it), or delete it anyway with --force.",
        )
    out: list[Removed] = []
    for entry in unique:
        ref = REF_PREFIX + entry.id.encode()
        deleted = dry_run or repo.delete_ref(ref, entry.commit)
        out.append(Removed(entry, ref.decode(), bool(deleted)))
    return out
