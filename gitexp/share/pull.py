"""``gitexp pull``: runs through ``git fetch`` into the remote-tracking namespace, local runs
fast-forwarded from there (never overwritten, never deleted), then their artifacts from
the DVC remote into the cache.

A named remote's runs are mirrored under ``refs/remotes/<remote>/gitexp/runs/``; a URL
has no such namespace, so its runs land under a temporary one that is removed again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.pointers import Artifact, run_artifacts
from gitexp.errors import GitexpError, TransferError
from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.record import REF_PREFIX
from gitexp.read.listing import remember_rows
from gitexp.read.resolve import resolve
from gitexp.read.trust import Rows, check_runs, passed
from gitexp.render.progress import NO_PROGRESS, Progress
from gitexp.render.words import plural
from gitexp.share import claims, sweeps
from gitexp.share.fetched import mark_seen
from gitexp.share.remotes import (
    AHEAD,
    DIVERGED,
    FAILED,
    NEW,
    QUARANTINED,
    REFUSED,
    RUNS_REFSPEC_SOURCE,
    UPDATED,
    RunReport,
    SyncReport,
    create_new_runs,
    entries_for,
    fast_forward,
    is_named_remote,
    run_name,
    run_objects,
    tracking_prefix,
)

Say = Callable[[str], None]
# The way forward while artifacts cannot come: the run itself is here already.
_RUNS_ALONE = (
    "(`gitexp pull --no-artifacts` leaves artifacts out; `gitexp restore` fetches them "
    "when it needs them.)"
)


def fetch_mirror(root: str, remote: str, quiet: bool = False) -> bytes:
    """Fetch the remote's run refs into their mirror namespace; returns the namespace.

    ``quiet``: git prints nothing (its message is then not above the error)."""
    named = is_named_remote(root, remote)
    if named:
        prefix = tracking_prefix(remote)
    else:
        prefix = f"refs/gitexp/incoming/{os.getpid()}-{secrets.token_hex(4)}/".encode()
    refspec = f"+{RUNS_REFSPEC_SOURCE}:{prefix.decode()}*"
    # Claims ride along (share/claims.py): an agent reads who runs which trial from them.
    refspecs = [refspec, sweeps.fetch_refspec(prefix), claims.fetch_refspec(prefix)]
    done = gitbin.fetch(root, remote, refspecs, prune=named, quiet=quiet)
    if done.returncode:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        above = f": {said[-1].strip()}" if said else ("" if quiet else "; see git's message above")
        raise TransferError(
            f"git fetch from {remote} failed (exit {done.returncode}{above})",
            "Check the remote's address and your access: `git fetch REMOTE` must work.",
        )
    return prefix


def drop_mirror(repo: GitRepo, prefix: bytes) -> None:
    sweeps.drop_mirror(repo, prefix)
    claims.drop_mirror(repo, prefix)
    if prefix.startswith(b"refs/gitexp/incoming/"):
        for name in repo.list_refs(prefix):
            repo.remove_ref(prefix + name)


def pull_runs(
    root: str,
    remote: str,
    refs: list[str] | None = None,
    dvc_remote: str | None = None,
    artifacts: bool = True,
    say: Say | None = None,
    progress: Progress = NO_PROGRESS,
    updating: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    quiet: bool = False,
) -> SyncReport:
    """Fetch the remote's runs (or the ``refs`` among them) and their artifacts
    (``quiet``: without git's progress).

    ``updating()`` is held from the end of the fetch until the runs are updated: the
    ui's lock, so that none of its requests reads the repository meanwhile."""
    prefix = fetch_mirror(root, remote, quiet)
    named = not prefix.startswith(b"refs/gitexp/incoming/")
    report = SyncReport(remote)
    # The repository is opened after the fetch: it sees the new packs.
    with updating(), GitRepo.discover(root) as repo:
        stamp = repo.remote_refs_stamp()  # the mirrors as listed now are marked seen
        mirrored: dict[str, ObjectId] | None = None
        try:
            mirrored = {name.decode(): sha for name, sha in repo.list_refs(prefix).items()}
            selected = mirrored
            if refs:
                entries = entries_for(repo, mirrored)
                chosen = [resolve(text, entries) for text in refs]
                selected = {entry.id: entry.commit for entry in chosen}
            # Every run is checked before any ref is made, so a run that fails never
            # becomes a local run and the rest still do (read/trust.py).
            rows: Rows = {}
            problems = check_runs(repo, selected, rows)
            # The rows of the runs that passed: the first `ls` after this pull reads no
            # commit (a run that failed, under any of its names, is left to ls).
            remember_rows(repo, passed(selected, problems), rows)
            created = create_new_runs(repo, selected, problems, rows=rows)
            with progress.counter(len(selected), "updating runs", "run") as advance:
                for run_id, sha in sorted(selected.items()):
                    problem = problems.get(run_id)
                    if problem:
                        report.runs.append(
                            RunReport(run_id, "", QUARANTINED, sha.decode(), error=problem)
                        )
                    elif run_id in created:
                        report.runs.append(RunReport(run_id, created[run_id], NEW, sha.decode()))
                    else:
                        report.runs.append(_update(repo, run_id, sha))
                    advance(1)
            report.sweeps = sweeps.adopt(repo, prefix, remote)
            if artifacts:
                wanted = {
                    item.id: repo.read_ref(REF_PREFIX + item.id.encode())
                    for item in report.runs
                    if item.action in (NEW, UPDATED) or refs
                }
                _fetch_artifacts(
                    repo,
                    {k: v for k, v in wanted.items() if v is not None},
                    dvc_remote,
                    report,
                    say,
                    progress,
                )
        finally:
            drop_mirror(repo, prefix)
            if named and mirrored is not None:  # dealt with here: not taken up again
                mark_seen(repo, prefix, stamp, mirrored)
    return report


def _update(repo: GitRepo, run_id: str, sha: ObjectId) -> RunReport:
    action, why = fast_forward(repo, run_id, sha)
    item = RunReport(run_id, run_name(repo, sha), action, sha.decode())
    if action in (REFUSED, DIVERGED):  # the report names the commit this clone kept
        local = repo.read_ref(REF_PREFIX + run_id.encode())
        item.commit = local.decode() if local else None
    if action == REFUSED:
        item.error = (
            f"kept this clone's run: {why} (see docs/sharing.md#trust-between-clones; the "
            f"remote's commit stays readable as {sha.decode()[:12]} until the next fetch)"
        )
    elif action == DIVERGED:
        item.error = (
            f"kept this clone's history ({item.commit and item.commit[:12]}); the remote's is "
            f"{sha.decode()[:12]} (see docs/sharing.md#diverged-runs)"
        )
    elif action == AHEAD:
        item.error = "this clone has newer commits of this run: `gitexp push` sends them"
    return item


def _fetch_artifacts(
    repo: GitRepo,
    runs: dict[str, ObjectId],
    dvc_remote: str | None,
    report: SyncReport,
    say: Say | None,
    progress: Progress,
) -> None:
    needs: dict[str, list[Artifact]] = {}
    with progress.counter(len(runs), "reading artifact lists", "run") as advance:
        for run_id, sha in runs.items():
            needs[run_id] = run_artifacts(repo, sha, versions=True)
            advance(1)
    needs = {run_id: items for run_id, items in needs.items() if items}
    if not needs:
        return
    by_id = {item.id: item for item in report.runs}

    def fail(run_ids: list[str], message: str) -> None:
        for run_id in run_ids:
            by_id[run_id].action = FAILED
            by_id[run_id].error = f"run fetched, its artifacts not: {message}"

    if not store_mod.has_project(repo.root):
        error = store_mod.no_project_error(repo.root)
        fail(list(needs), f"{error.message}. {error.hint} {_RUNS_ALONE}")
        return
    try:
        with store_mod.ArtifactStore(repo.root, progress.enabled) as store:
            name = store.remote_name(dvc_remote)
            report.dvc_remote = f"{name} ({store.remote_url(name)})"
            digests = {item.digest for items in needs.values() for item in items}
            per_run = run_objects(needs, store.objects(digests, name))
            every = set().union(*per_run.values())
            absent = every - store.in_cache(every)
            if say and absent:
                say(f"fetching {plural(len(absent), 'artifact object')} from DVC remote {name}")
            outcome = store.fetch(absent, name)
    except GitexpError as exc:
        fail(list(needs), f"{exc.message}. {exc.hint or ''} {_RUNS_ALONE}")
        return
    report.messages.extend(outcome.messages)
    bad = outcome.failed | outcome.missing
    for run_id, oids in per_run.items():
        by_id[run_id].artifacts = len(oids & outcome.moved)
        lost = oids & bad
        if lost:
            why = "not on the DVC remote" if lost & outcome.missing else "download failed"
            fail([run_id], f"{len(lost)} of {plural(len(oids), 'object')} {why}")
