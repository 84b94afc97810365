"""Artifact alias refs through push and pull: forward only, divergence kept and reported.

``gitexp push`` sends ``refs/gitexp/aliases/*`` without force: git refuses a push that
would drop a move the remote has (another clone moved the alias), and the alias is
reported as diverged (exit 9).  ``gitexp pull`` fetches them into
``refs/remotes/<remote>/gitexp/aliases/`` and fast-forwards the local alias when every
new commit is a move gitexp would write (artifacts/aliases.py ``check_move``); a local
alias the remote's does not contain stays as it is, reported as diverged, and the
remote's moves stay readable in the remote-tracking ref: both moves are kept in a ref.
See docs/sharing.md, "Artifact aliases".
"""

from __future__ import annotations

import os
import secrets

from gitexp.artifacts.aliases import ALIAS_PREFIX, split_ref_tail
from gitexp.errors import GitexpError
from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.share.policy import alias_refusal
from gitexp.share.remotes import (
    AHEAD,
    DIVERGED,
    FAILED,
    NEW,
    QUARANTINED,
    UP_TO_DATE,
    UPDATED,
    RunReport,
    is_named_remote,
)

ALIASES_SOURCE = ALIAS_PREFIX.decode() + "*"  # "refs/gitexp/aliases/*"


def alias_fetch_refspec(remote: str) -> str:
    """Where a fetch mirrors the remote's aliases (also installed by ``gitexp install``)."""
    return f"+{ALIASES_SOURCE}:refs/remotes/{remote}/gitexp/aliases/*"


def push_aliases(repo: GitRepo, remote: str) -> list[RunReport]:
    """Push every local alias ref (never forced); one report per alias."""
    local = repo.list_refs(ALIAS_PREFIX)
    if not local:
        return []
    refspecs = [f"{ALIAS_PREFIX.decode()}{tail.decode()}" for tail in sorted(local)]
    refspecs = [f"{ref}:{ref}" for ref in refspecs]
    code, results = gitbin.push(repo.root, remote, refspecs, no_verify=True)
    by_ref = {result.dest: result for result in results}
    reports = []
    for tail, sha in sorted(local.items()):
        label = tail.decode("utf-8", "replace").replace("/", ":", 1)
        result = by_ref.get(ALIAS_PREFIX.decode() + tail.decode("utf-8", "replace"))
        if result is None:
            why = f"git push exited {code} without a word on this alias" if code else None
            reports.append(RunReport(label, "", FAILED if code else UP_TO_DATE, error=why))
        elif result.flag == "=":
            reports.append(RunReport(label, "", UP_TO_DATE, sha.decode()))
        elif result.ok:
            reports.append(
                RunReport(label, "", NEW if result.flag == "*" else UPDATED, sha.decode())
            )
        elif "non-fast-forward" in result.summary or "fetch first" in result.summary:
            reports.append(
                RunReport(
                    label,
                    "",
                    DIVERGED,
                    sha.decode(),
                    error="the remote's alias has moves this clone lacks (another clone moved "
                    "it): `gitexp pull` brings them, or reports the alias as diverged; then "
                    "move it again (see docs/sharing.md#artifact-aliases)",
                )
            )
        else:
            reports.append(RunReport(label, "", FAILED, sha.decode(), error=result.summary))
    return reports


def pull_aliases(repo: GitRepo, remote: str) -> list[RunReport]:
    """Fetch the remote's alias refs and bring the local ones forward (see the docstring)."""
    named = is_named_remote(repo.root, remote)
    if named:
        prefix = f"refs/remotes/{remote}/gitexp/aliases/".encode()
    else:
        prefix = f"refs/gitexp/incoming-aliases/{os.getpid()}-{secrets.token_hex(4)}/".encode()
    refspec = f"+{ALIASES_SOURCE}:{prefix.decode()}*"
    code = gitbin.fetch(repo.root, remote, [refspec], prune=named).returncode
    if code:
        return [RunReport("*", "", FAILED, error=f"git fetch of the aliases exited {code}")]
    reports = []
    try:
        for tail, sha in sorted(repo.list_refs(prefix).items()):
            reports.append(update_alias(repo, tail, sha))
    finally:
        if not named:
            for tail in repo.list_refs(prefix):
                repo.remove_ref(prefix + tail)
    return reports


def update_alias(repo: GitRepo, tail: bytes, remote_sha: ObjectId) -> RunReport:
    """Bring the local alias ``tail`` ("name/alias") forward to the remote's commit."""
    parsed = split_ref_tail(tail)
    label = tail.decode("utf-8", "replace").replace("/", ":", 1)
    if parsed is None:
        return RunReport(label, "", QUARANTINED, error="not a valid alias name: ignored")
    try:
        return _forward(repo, tail, label, remote_sha)
    except (GitexpError, KeyError, ValueError, TypeError, AttributeError) as exc:
        # A blob or a missing object where a commit should be: not a move gitexp wrote.
        why = f"not a gitexp alias: unreadable ({type(exc).__name__})"
        return RunReport(label, "", QUARANTINED, remote_sha.decode(), error=why)


def _forward(repo: GitRepo, tail: bytes, label: str, remote_sha: ObjectId) -> RunReport:
    ref = ALIAS_PREFIX + tail
    local = repo.read_ref(ref)
    if local == remote_sha:
        return RunReport(label, "", UP_TO_DATE, remote_sha.decode())
    if local is not None and repo.is_ancestor(remote_sha, local):
        return RunReport(label, "", AHEAD, local.decode(), error="`gitexp push` sends its moves")
    if local is not None and not repo.is_ancestor(local, remote_sha):
        return RunReport(
            label,
            "",
            DIVERGED,
            local.decode(),
            error=f"kept this clone's moves ({local.decode()[:12]}); the remote's are "
            f"{remote_sha.decode()[:12]} (see docs/sharing.md#artifact-aliases)",
        )
    problem = alias_refusal(repo, tail, local, remote_sha)
    if problem:
        return RunReport(
            label, "", QUARANTINED, remote_sha.decode(), error=f"not a gitexp alias: {problem}"
        )
    if local is None:
        moved = repo.create_ref(ref, remote_sha, b"gitexp: fetched alias")
    else:
        moved = repo.move_ref(ref, local, remote_sha, b"gitexp: fetched alias (fast-forward)")
    if not moved:
        return RunReport(label, "", FAILED, error="the alias moved here meanwhile: pull again")
    return RunReport(label, "", NEW if local is None else UPDATED, remote_sha.decode())
