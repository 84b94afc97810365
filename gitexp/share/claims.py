"""Claim refs (``refs/gitexp/claims/<sweep>/<trial>``): which agent runs which trial.

Agents on machines that share nothing but a git remote (``gitexp agent``) take a
sweep's trials through the remote itself: an agent claims trial N by creating the
remote's ref ``refs/gitexp/claims/<sweep>/<N>`` with a push that must create it (git's
lease "must not exist", checked again by the remote under its ref lock), so of two
agents that want the same trial exactly one gets it.  The claim's commit holds one
file, ``claim.json`` (who claimed it, when: docs/format.md, "Claim refs"), and a stale
claim is taken over by the same compare-and-swap against the commit it holds.

Claims are the remote's state, not this clone's: a fetch mirrors them under
``refs/remotes/<remote>/gitexp/claims/`` (pruned with the remote), and nothing makes
them local.  What a teammate pushed there is input: a claim ref whose name or content
is not a claim is left out with a warning (and counts as stale, so it blocks nothing).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time

from gitexp.errors import GitexpError
from gitexp.git import binary as gitbin
from gitexp.git import catfile
from gitexp.git.repo import MODE_FILE, GitRepo, ObjectId
from gitexp.share.remotes import sibling_mirror
from gitexp.slotted import Slotted

SOURCE = "refs/gitexp/claims/*"
CLAIM_PREFIX = "refs/gitexp/claims/"
CLAIM_FILE = b"claim.json"
MAX_CLAIM = 4096  # bytes of claim.json a reader reads; a larger one is not a claim
_TRIAL = re.compile(r"^(0|[1-9][0-9]{0,8})$")


def mirror_prefix(runs_prefix: bytes) -> bytes:
    """Where a fetch mirrors the remote's claims, beside its runs' mirror ``runs_prefix``."""
    return sibling_mirror(runs_prefix, "claims")


def fetch_refspec(runs_prefix: bytes) -> str:
    return f"+{SOURCE}:{mirror_prefix(runs_prefix).decode()}*"


def drop_mirror(repo: GitRepo, runs_prefix: bytes) -> None:
    if runs_prefix.startswith(b"refs/gitexp/incoming/"):
        prefix = mirror_prefix(runs_prefix)
        for name in repo.list_refs(prefix):
            repo.remove_ref(prefix + name)


def ref_name(sweep_id: str, trial: int) -> str:
    return f"{CLAIM_PREFIX}{sweep_id}/{trial}"


class Claim(Slotted):
    """One trial's claim as the remote holds it."""

    _fields = ("trial", "commit", "name", "host", "pid", "time")
    __slots__ = _fields

    def __init__(
        self, trial: int, commit: ObjectId, name: str, host: str, pid: int, at: float
    ) -> None:
        self.trial, self.commit, self.name = trial, commit, name
        self.host, self.pid, self.time = host, pid, at

    def describe(self) -> str:
        return f"{self.host} (pid {self.pid})"


def read_claims(
    repo: GitRepo, runs_prefix: bytes, sweep_id: str
) -> tuple[dict[int, Claim], dict[int, ObjectId], list[str]]:
    """The claims of ``sweep_id`` a fetch mirrored: (claims by trial, refs by trial that
    hold no readable claim, warnings for refs that are not claims at all)."""
    prefix = mirror_prefix(runs_prefix) + sweep_id.encode() + b"/"
    claims: dict[int, Claim] = {}
    unreadable: dict[int, ObjectId] = {}
    warnings: list[str] = []
    blobs: dict[int, tuple[ObjectId, bytes]] = {}  # trial: (claim commit, claim.json blob)

    def refuse(trial: int, sha: ObjectId, problem: str) -> None:
        warnings.append(f"claim of trial {trial} is not a claim ({problem}): counted as stale")
        unreadable[trial] = sha

    for raw, sha in sorted(repo.list_refs(prefix).items()):
        name = raw.decode("utf-8", "replace")
        if not _TRIAL.match(name):
            warnings.append(f"ignored claim ref {sweep_id}/{name[:80]!r}: not a trial number")
            continue
        blob, problem = _claim_blob(repo, sha)
        if blob is None:
            refuse(int(name), sha, problem or "unreadable")
        else:
            blobs[int(name)] = (sha, blob)
    # Every claim's size in one git process (an agent reads all claims each turn).
    sizes = catfile.object_sizes(repo.root, [blob.decode() for _sha, blob in blobs.values()])
    for (trial, (sha, blob)), size in zip(blobs.items(), sizes, strict=True):
        claim, problem = _read(repo, sweep_id, trial, sha, blob, size)
        if claim is None:
            refuse(trial, sha, problem or "unreadable")
        else:
            claims[trial] = claim
    return claims, unreadable, warnings


def _claim_blob(repo: GitRepo, sha: ObjectId) -> tuple[bytes | None, str | None]:
    """The claim.json blob of a claim commit, or why there is none."""
    try:
        tree, _parents, _message = repo.commit_info(sha)
        entries = repo.tree_entries(tree)
    except (GitexpError, KeyError, ValueError, RecursionError) as exc:
        return None, f"unreadable: {type(exc).__name__}"
    found = entries.get(CLAIM_FILE)
    if found is None or found[0] != MODE_FILE or len(entries) != 1:
        return None, "its commit must hold claim.json alone"
    return found[1], None


def _read(
    repo: GitRepo, sweep_id: str, trial: int, sha: ObjectId, blob: bytes, size: int | None
) -> tuple[Claim | None, str | None]:
    if size is None or size > MAX_CLAIM:
        return None, f"claim.json is missing or over {MAX_CLAIM} bytes"
    try:
        data = json.loads(repo.read_blob(blob).decode("utf-8"))
    except (GitexpError, KeyError, ValueError, RecursionError) as exc:
        return None, f"unreadable: {type(exc).__name__}"
    if not isinstance(data, dict):
        return None, "claim.json is not an object"
    host, pid, at, name = data.get("host"), data.get("pid"), data.get("time"), data.get("name")
    if (
        data.get("sweep") != sweep_id
        or data.get("trial") != trial
        or not isinstance(host, str)
        or not isinstance(name, str)
        or not isinstance(pid, int)
        or isinstance(pid, bool)
        or not isinstance(at, (int, float))
        or isinstance(at, bool)
        or not math.isfinite(at)
    ):
        return None, "claim.json lacks its sweep, trial, name, host, pid or time"
    return Claim(trial, sha, name[:200], host[:200], pid, float(at)), None


def write_claim(repo: GitRepo, sweep_id: str, trial: int, name: str) -> ObjectId:
    """A claim commit of this process: who (host, pid) claims which trial, and when."""
    body = {
        "sweep": sweep_id,
        "trial": trial,
        "name": name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": round(time.time(), 3),
    }
    blob = repo.write_blob(json.dumps(body, sort_keys=True).encode() + b"\n")
    tree = repo.write_tree([(CLAIM_FILE, MODE_FILE, blob)])
    return repo.write_commit(tree, [], f"gitexp claim {sweep_id}/{trial}\n")


def take(
    repo: GitRepo, remote: str, sweep_id: str, trial: int, name: str, expect: ObjectId | None
) -> tuple[ObjectId | None, str | None]:
    """Claim ``trial`` on ``remote``: (the claim's commit, None), or (None, why not).

    ``expect``: None creates the claim (it must not exist); a commit takes over the
    claim that holds it (it must still hold it)."""
    commit = write_claim(repo, sweep_id, trial, name)
    why = gitbin.push_lease(
        repo.root,
        remote,
        commit.decode(),
        ref_name(sweep_id, trial),
        expect.decode() if expect else None,
    )
    return (commit, None) if why is None else (None, why)


def release(repo: GitRepo, remote: str, sweep_id: str, trial: int, commit: ObjectId) -> bool:
    """Delete this agent's claim, if the remote still holds it: the trial is free again."""
    ref = ref_name(sweep_id, trial)
    return gitbin.push_lease(repo.root, remote, "", ref, commit.decode()) is None
