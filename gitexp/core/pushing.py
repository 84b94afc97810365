"""``gitexp push``: artifacts to the DVC remote first, then the run refs through ``git push``.

Order matters as with git-lfs: a run's ref reaches the remote only after every artifact
it points to, so whoever fetches the run can always fetch its files.  A run whose
artifacts fail to upload is not pushed at all (and reported).  Refs are pushed without
force, commit by exact id (a run finishing meanwhile is pushed next time, with its new
artifacts), so the remote's runs only ever move forward.
"""

from __future__ import annotations

from collections.abc import Callable

from gitexp.adapters import artifacts as store_mod
from gitexp.adapters import gitbin
from gitexp.adapters.git import GitRepo, ObjectId
from gitexp.core.artifacts import Artifact, run_artifacts
from gitexp.core.record import REF_PREFIX
from gitexp.core.sharing import (
    BEHIND,
    DIVERGED,
    FAILED,
    NEW,
    UP_TO_DATE,
    UPDATED,
    RunReport,
    SyncReport,
    is_named_remote,
    run_name,
    run_objects,
    tracking_prefix,
)
from gitexp.errors import GitexpError

Say = Callable[[str], None]


def push_runs(
    repo: GitRepo,
    remote: str,
    selected: dict[str, ObjectId] | None = None,
    dvc_remote: str | None = None,
    no_verify: bool = False,
    say: Say | None = None,
) -> SyncReport:
    """Push ``selected`` runs (``{id: commit}``; default all) and their artifacts."""
    local = {name.decode(): sha for name, sha in repo.list_refs(REF_PREFIX).items()}
    runs = dict(selected) if selected is not None else local
    report = SyncReport(remote)
    remote_refs = gitbin.ls_remote(repo.root, remote, "refs/gitexp/runs/*")
    pending: dict[str, ObjectId] = {}
    for run_id, sha in sorted(runs.items()):
        there = remote_refs.get(f"refs/gitexp/runs/{run_id}")
        item = RunReport(run_id, run_name(repo, sha), UP_TO_DATE, sha.decode())
        report.runs.append(item)
        if there == sha.decode():
            continue
        if there is None:
            item.action = NEW
        elif not repo.has_object(there.encode()):
            item.action = FAILED
            item.error = "the remote has commits of this run this clone lacks: `gitexp pull`"
            continue
        elif repo.is_ancestor(there.encode(), sha):
            item.action = UPDATED
        elif repo.is_ancestor(sha, there.encode()):
            item.action = BEHIND
            item.error = "the remote has newer commits of this run: `gitexp pull` takes them"
            continue
        else:
            item.action = DIVERGED
            item.error = (
                "the remote's history of this run differs from this clone's "
                "(see docs/sharing.md#diverged-runs)"
            )
            continue
        pending[run_id] = sha
    by_id = {item.id: item for item in report.runs}
    if pending:
        _upload_artifacts(repo, pending, dvc_remote, report, by_id, say)
        _push_refs(repo, remote, pending, no_verify, by_id)
    return report


def _upload_artifacts(
    repo: GitRepo,
    pending: dict[str, ObjectId],
    dvc_remote: str | None,
    report: SyncReport,
    by_id: dict[str, RunReport],
    say: Say | None,
) -> None:
    """Upload what the pending runs point to; runs that cannot be complete drop out."""
    needs = {run_id: run_artifacts(repo, sha) for run_id, sha in pending.items()}
    needs = {run_id: items for run_id, items in needs.items() if items}
    if not needs:
        return

    def fail(run_ids: list[str], message: str) -> None:
        for run_id in run_ids:
            by_id[run_id].action = FAILED
            by_id[run_id].error = message
            pending.pop(run_id, None)

    if not store_mod.has_project(repo.root):
        fail(list(needs), f"has artifacts, but {store_mod.no_project_error(repo.root).message}")
        return
    try:
        with store_mod.ArtifactStore(repo.root) as store:
            name = store.remote_name(dvc_remote)
            report.dvc_remote = f"{name} ({store.remote_url(name)})"
            if say:
                count = sum(len(items) for items in needs.values())
                say(f"uploading {count} artifact(s) of {len(needs)} run(s) to DVC remote {name}")
            _transfer(store, name, needs, fail, by_id, report)
    except GitexpError as exc:
        fail(list(needs), f"artifacts not uploaded: {exc.message} {exc.hint or ''}".strip())


def _transfer(
    store: store_mod.ArtifactStore,
    name: str,
    needs: dict[str, list[Artifact]],
    fail: Callable[[list[str], str], None],
    by_id: dict[str, RunReport],
    report: SyncReport,
) -> None:
    digests = {item.digest for items in needs.values() for item in items}
    per_run = run_objects(needs, store.objects(digests, name))
    every = set().union(*per_run.values())
    outcome = store.push(every, name)
    report.messages.extend(outcome.messages)
    bad = outcome.failed | outcome.missing
    for run_id, oids in per_run.items():
        by_id[run_id].artifacts = len(oids & outcome.moved)
        lost = oids & bad
        if not lost:
            continue
        why = (
            "not in the local cache nor on the remote"
            if lost & outcome.missing
            else (outcome.messages[0] if outcome.messages else "upload failed")
        )
        fail([run_id], f"{len(lost)} of {len(oids)} artifact object(s) not uploaded: {why}")


def _push_refs(
    repo: GitRepo,
    remote: str,
    pending: dict[str, ObjectId],
    no_verify: bool,
    by_id: dict[str, RunReport],
) -> None:
    if not pending:
        return
    refspecs = [f"{sha.decode()}:refs/gitexp/runs/{run_id}" for run_id, sha in pending.items()]
    code, results = gitbin.push(repo.root, remote, refspecs, no_verify=no_verify)
    seen = {result.dest: result for result in results}
    named = is_named_remote(repo.root, remote)
    for run_id, sha in pending.items():
        result = seen.get(f"refs/gitexp/runs/{run_id}")
        item = by_id[run_id]
        if result is None:
            item.action = FAILED
            item.error = f"git push exited with {code} (see git's message above)"
        elif not result.ok:
            item.action = FAILED
            item.error = f"rejected by the remote: {result.summary or 'see git above'}"
        elif named:
            repo.set_ref(tracking_prefix(remote) + run_id.encode(), sha, b"gitexp: pushed")


def upload_artifacts(
    repo: GitRepo, runs: dict[str, ObjectId], dvc_remote: str | None = None, say: Say | None = None
) -> SyncReport:
    """Only the artifacts of ``runs`` (the pre-push hook: git pushes the refs itself)."""
    report = SyncReport("")
    for run_id, sha in sorted(runs.items()):
        report.runs.append(RunReport(run_id, run_name(repo, sha), UPDATED, sha.decode()))
    by_id = {item.id: item for item in report.runs}
    _upload_artifacts(repo, dict(runs), dvc_remote, report, by_id, say)
    return report


def delete_remote_runs(repo: GitRepo, remote: str, run_ids: list[str]) -> dict[str, str | None]:
    """Delete runs on a git remote (``git push REMOTE :refs/gitexp/runs/<id>``).

    Returns ``{id: None}`` for each run gone from the remote (or never there), else the
    reason git gave.  The mirror ``refs/remotes/<remote>/gitexp/runs/<id>`` goes too.
    Their artifacts stay on the DVC remote until ``gitexp gc --cloud``.
    """
    refspecs = [f":refs/gitexp/runs/{run_id}" for run_id in run_ids]
    code, results = gitbin.push(repo.root, remote, refspecs)
    seen = {result.dest: result for result in results}
    named = is_named_remote(repo.root, remote)
    out: dict[str, str | None] = {}
    for run_id in run_ids:
        result = seen.get(f"refs/gitexp/runs/{run_id}")
        if result is None:
            out[run_id] = f"git push exited with {code} (see git's message above)"
        elif result.ok or "does not exist" in result.summary:
            out[run_id] = None
            if named:
                repo.remove_ref(tracking_prefix(remote) + run_id.encode())
        else:
            out[run_id] = result.summary or "rejected"
    return out
