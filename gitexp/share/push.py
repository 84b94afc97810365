"""``gitexp push``: artifacts to the DVC remote first, then the run refs through ``git push``.

Order matters as with git-lfs: a run's ref reaches the remote only after every artifact
it points to, so whoever fetches the run can always fetch its files.  A run whose
artifacts fail to upload is not pushed at all (and reported).  Refs are pushed without
force, so the remote's runs only ever move forward.

How the refs travel.  git matches every explicit refspec against every local and remote
ref, so 1,000 ``<sha>:refs/gitexp/runs/<id>`` refspecs cost ``git push`` about a second
where the glob ``refs/gitexp/runs/*:refs/gitexp/runs/*`` costs a tenth of that.  A few
runs go as exact refspecs (``<commit>:<ref>``).  More go through the glob, with a negative
refspec ``^refs/gitexp/runs/<id>`` (git 2.29 or later) for each local run the push must
not carry (behind, diverged, its artifacts not uploaded, not selected), unless those
exclusions would cost git more than exact refspecs.  A glob carries what each ref holds
when git reads it rather than the commit whose artifacts were uploaded, so:

* a run that moved since its artifacts were looked up (the refs are read again before
  the push when uploads took their time), and a run still ``running`` (its final
  commit, the one that adds artifacts, may come at any moment), are left out of the
  glob and pushed by exact commit, in a second ``git push``;
* after the push, a run whose ref moved while git ran (or that the glob carried without
  being asked to) is looked up on the remote: if the remote got a commit other than the
  checked one, that commit's artifacts are uploaded at once, and the report says so.

No temporary refs: refs pointing at the checked commits would make the glob exact, but
writing and deleting 1,000 loose refs costs more than git's whole push.  Nothing but
``refs/gitexp/runs/<id>`` reaches the remote; here only the mirrors
``refs/remotes/<remote>/gitexp/runs/<id>`` of a named remote change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gitexp.artifacts.pointers import Artifact
from gitexp.errors import GitexpError
from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.record import REF_PREFIX, RUNNING
from gitexp.render.progress import NO_PROGRESS, Progress
from gitexp.render.words import plural
from gitexp.share.remotes import (
    BEHIND,
    DIVERGED,
    FAILED,
    NEW,
    RUNS_REFSPEC_SOURCE,
    UP_TO_DATE,
    UPDATED,
    RunCommit,
    RunReport,
    SyncReport,
    is_named_remote,
    read_artifacts,
    read_run_commits,
    run_objects,
    tracking_prefix,
)
from gitexp.slotted import Slotted

if TYPE_CHECKING:
    from gitexp.artifacts.dvc import ArtifactStore

Say = Callable[[str], None]

RUN_REF = REF_PREFIX.decode()  # "refs/gitexp/runs/"
RUNS_GLOB = f"{RUNS_REFSPEC_SOURCE}:{RUNS_REFSPEC_SOURCE}"
FEW = 4  # up to this many runs: exact refspecs only (git's matching cost is negligible)
# git's cost of one exact refspec against one ref (rev-parse's rules, each name formatted:
# ~0.75 us with git 2.39) over that of one negative refspec against one ref (a string
# compare: ~0.2 us).
EXACT_PAIR_COST = 4
NEGATIVE_REFSPECS = (2, 29)  # the first git that has them


def push_runs(
    repo: GitRepo,
    remote: str,
    selected: dict[str, ObjectId] | None = None,
    dvc_remote: str | None = None,
    no_verify: bool = False,
    say: Say | None = None,
    progress: Progress = NO_PROGRESS,
) -> SyncReport:
    """Push ``selected`` runs (``{id: commit}``; default all) and their artifacts."""
    report = SyncReport(remote)
    # What the remote has, asked first: the local reads below overlap the round trip.
    with gitbin.RemoteRefs(repo.root, remote, RUNS_REFSPEC_SOURCE) as asking:
        local = _local_runs(repo) if selected is None else None
        runs = dict(selected) if selected is not None else dict(local or {})
        commits = read_run_commits(repo, runs.values())  # names and statuses
        remote_refs = asking.wait()
    pending: dict[str, ObjectId] = {}
    with progress.counter(len(runs), f"comparing runs with {remote}", "run") as advance:
        for run_id, sha in sorted(runs.items()):
            advance(1)
            if _compare(repo, run_id, sha, remote_refs, commits, report):
                pending[run_id] = sha
    by_id = {item.id: item for item in report.runs}
    if pending:
        artifacts = read_artifacts(repo, {sha: commits[sha] for sha in pending.values()})
        needs = {run_id: artifacts[sha] for run_id, sha in pending.items()}
        _upload_artifacts(repo, pending, needs, dvc_remote, report, by_id, say, progress)
        # The refs read a moment ago are fresh enough, unless uploads took their time.
        fresh = local if not any(needs.values()) else None
        pusher = _RefPusher(repo, remote, no_verify, dvc_remote, report, by_id, say)
        pusher.push(pending, commits, remote_refs, fresh)
    return report


def _compare(
    repo: GitRepo,
    run_id: str,
    sha: ObjectId,
    remote_refs: dict[str, str],
    commits: dict[ObjectId, RunCommit],
    report: SyncReport,
) -> bool:
    """Report how the run here stands to the remote's; whether it is to be pushed."""
    there = remote_refs.get(RUN_REF + run_id)
    item = RunReport(run_id, commits[sha].name, UP_TO_DATE, sha.decode())
    report.runs.append(item)
    if there == sha.decode():
        return False
    if there is None:
        item.action = NEW
    elif not repo.has_object(there.encode()):
        item.action = FAILED
        item.error = "the remote has commits of this run this clone lacks: `gitexp pull`"
        return False
    elif repo.is_ancestor(there.encode(), sha):
        item.action = UPDATED
    elif repo.is_ancestor(sha, there.encode()):
        item.action = BEHIND
        item.error = "the remote has newer commits of this run: `gitexp pull` takes them"
        return False
    else:
        item.action = DIVERGED
        item.error = (
            "the remote's history of this run differs from this clone's "
            "(see docs/sharing.md#diverged-runs)"
        )
        return False
    return True


def _local_runs(repo: GitRepo) -> dict[str, ObjectId]:
    return {name.decode(): sha for name, sha in repo.list_refs(REF_PREFIX).items()}


def _upload_artifacts(
    repo: GitRepo,
    pending: dict[str, ObjectId],
    needs: dict[str, list[Artifact]],
    dvc_remote: str | None,
    report: SyncReport,
    by_id: dict[str, RunReport],
    say: Say | None,
    progress: Progress = NO_PROGRESS,
) -> None:
    """Upload what the pending runs point to; runs that cannot be complete drop out."""
    needs = {run_id: items for run_id, items in needs.items() if items}
    if not needs:
        return
    from gitexp.artifacts import dvc as store_mod  # DVC's layer: only for artifacts

    def fail(run_ids: list[str], message: str) -> None:
        for run_id in run_ids:
            by_id[run_id].action = FAILED
            by_id[run_id].error = message
            pending.pop(run_id, None)

    if not store_mod.has_project(repo.root):
        error = store_mod.no_project_error(repo.root)
        fail(list(needs), f"has artifacts, but {error.message}. {error.hint}")
        return
    try:
        with store_mod.ArtifactStore(repo.root, progress.enabled) as store:
            name = store.remote_name(dvc_remote)
            report.dvc_remote = f"{name} ({store.remote_url(name)})"
            if say:
                count = sum(len(items) for items in needs.values())
                say(
                    f"uploading {plural(count, 'artifact')} of {plural(len(needs), 'run')} "
                    f"to DVC remote {name}"
                )
            _transfer(store, name, needs, fail, by_id, report)
    except GitexpError as exc:
        fail(list(needs), f"artifacts not uploaded: {exc.message}. {exc.hint or ''}".strip())


def _transfer(
    store: ArtifactStore,
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
        by_id[run_id].artifacts += len(oids & outcome.moved)
        lost = oids & bad
        if not lost:
            continue
        why = (
            "not in the local cache nor on the remote"
            if lost & outcome.missing
            else (outcome.messages[0] if outcome.messages else "upload failed")
        )
        fail([run_id], f"{len(lost)} of {plural(len(oids), 'artifact object')} not uploaded: {why}")


class _Plan(Slotted):
    """How one push carries the runs whose artifacts are uploaded."""

    _fields = ("exact", "glob", "excluded")
    __slots__ = _fields

    def __init__(
        self,
        exact: dict[str, ObjectId],  # by exact commit: ``<commit>:refs/gitexp/runs/<id>``
        glob: dict[str, ObjectId] | None = None,  # by the glob, at these commits
        excluded: list[str] | None = None,  # local runs the glob leaves alone
    ) -> None:
        self.exact = exact
        self.glob: dict[str, ObjectId] = {} if glob is None else glob
        self.excluded: list[str] = [] if excluded is None else excluded


def plan_refspecs(
    repo: GitRepo,
    pending: dict[str, ObjectId],
    commits: dict[ObjectId, RunCommit],
    remote_refs: dict[str, str],
    local: dict[str, ObjectId] | None = None,
) -> _Plan:
    """Exact refspecs for a few runs, else the glob when it costs git less (see above).

    ``local``: the local runs as read a moment ago; None reads them now.
    """
    if len(pending) <= FEW:
        return _Plan(dict(pending))
    now = local if local is not None else _local_runs(repo)
    glob: dict[str, ObjectId] = {}
    exact: dict[str, ObjectId] = {}
    for run_id, sha in pending.items():
        status = commits[sha].status if sha in commits else None
        if now.get(run_id) == sha and status is not None and status != RUNNING:
            glob[run_id] = sha
        else:
            exact[run_id] = sha
    # A run the remote holds at the commit here stays in the glob: git reports it "up to date".
    excluded = sorted(
        run_id
        for run_id, sha in now.items()
        if run_id not in glob and remote_refs.get(RUN_REF + run_id) != sha.decode()
    )
    refs = len(now) + len(remote_refs)
    cost_exact = len(pending) * refs * EXACT_PAIR_COST
    cost_glob = len(now) * (1 + len(excluded)) + len(exact) * refs * EXACT_PAIR_COST
    if not glob or cost_glob >= cost_exact:
        return _Plan(dict(pending))
    if excluded and gitbin.version() < NEGATIVE_REFSPECS:
        return _Plan(dict(pending))
    return _Plan(exact, glob, excluded)


class _RefPusher:
    """Pushes the refs of the runs whose artifacts are uploaded, and reports each."""

    def __init__(
        self,
        repo: GitRepo,
        remote: str,
        no_verify: bool,
        dvc_remote: str | None,
        report: SyncReport,
        by_id: dict[str, RunReport],
        say: Say | None,
    ) -> None:
        self.repo = repo
        self.remote = remote
        self.no_verify = no_verify
        self.dvc_remote = dvc_remote
        self.report = report
        self.by_id = by_id
        self.say = say

    def push(
        self,
        pending: dict[str, ObjectId],
        commits: dict[ObjectId, RunCommit],
        remote_refs: dict[str, str],
        local: dict[str, ObjectId] | None = None,
    ) -> None:
        if not pending:
            return
        plan = plan_refspecs(self.repo, pending, commits, remote_refs, local)
        pushed: dict[str, ObjectId] = {}
        if plan.exact:
            refspecs = [f"{sha.decode()}:{RUN_REF}{run_id}" for run_id, sha in plan.exact.items()]
            code, results = gitbin.push(self.repo.root, self.remote, refspecs, self.no_verify)
            pushed.update(self._record(plan.exact, code, results))
        if plan.glob:
            refspecs = [RUNS_GLOB, *(f"^{RUN_REF}{run_id}" for run_id in plan.excluded)]
            code, results = gitbin.push(self.repo.root, self.remote, refspecs, self.no_verify)
            pushed.update(self._record(plan.glob, code, results))
            pushed.update(self._settle_glob(plan, results))
        if pushed and is_named_remote(self.repo.root, self.remote):
            self._mirror(pushed)

    def _mirror(self, pushed: dict[str, ObjectId]) -> None:
        """``refs/remotes/<remote>/gitexp/runs/<id>`` at what the remote now holds."""
        prefix = tracking_prefix(self.remote)
        mirrors = {(prefix + run_id.encode()).decode(): sha for run_id, sha in pushed.items()}
        message = "gitexp: pushed"
        if len(mirrors) > FEW and gitbin.set_refs(
            self.repo.root, {ref: sha.decode() for ref, sha in mirrors.items()}, message
        ):
            return
        for ref, sha in mirrors.items():  # a few, or git refused (a ref locked): one by one
            self.repo.set_ref(ref.encode(), sha, message.encode())

    def _record(
        self, runs: dict[str, ObjectId], code: int, results: list[gitbin.RefResult]
    ) -> dict[str, ObjectId]:
        """Report each run from git's answer; returns those that reached the remote."""
        seen = {result.dest: result for result in results}
        pushed: dict[str, ObjectId] = {}
        for run_id, sha in runs.items():
            result = seen.get(RUN_REF + run_id)
            item = self.by_id[run_id]
            if result is None:
                item.action = FAILED
                item.error = f"git push exited with {code} (see git's message above)"
            elif not result.ok:
                item.action = FAILED
                item.error = f"rejected by the remote: {result.summary or 'see git above'}"
            else:
                pushed[run_id] = sha
        return pushed

    def _settle_glob(self, plan: _Plan, results: list[gitbin.RefResult]) -> dict[str, ObjectId]:
        """Runs the glob may have carried at a commit other than the checked one.

        Those whose ref moved while git ran, and those it carried unasked (made or moved
        since the refs were read): the remote says which commit it got; the artifacts of
        an unchecked commit are uploaded now.  Returns ``{id: commit}`` of such runs.
        """
        after = _local_runs(self.repo)
        carried = {
            result.dest[len(RUN_REF) :]: result
            for result in results
            if result.ok and result.flag != "=" and result.dest.startswith(RUN_REF)
        }
        suspects = [
            run_id
            for run_id in carried
            if run_id not in plan.glob or after.get(run_id) != plan.glob[run_id]
        ]
        if not suspects:
            return {}
        there = gitbin.ls_remote(self.repo.root, self.remote, RUNS_REFSPEC_SOURCE)
        late: dict[str, ObjectId] = {}
        for run_id in suspects:
            got = there.get(RUN_REF + run_id)
            if got is None or got.encode() == plan.glob.get(run_id):
                continue
            if not self.repo.has_object(got.encode()):
                continue  # someone else's push after ours: not ours to settle
            late[run_id] = got.encode()
        if not late:
            return {}
        commits = read_run_commits(self.repo, late.values())
        artifacts = read_artifacts(self.repo, commits)
        for run_id, sha in late.items():
            action = NEW if carried[run_id].flag == "*" else UPDATED
            item = self.by_id.get(run_id)
            if item is None:  # carried unasked (made since the refs were read): it moved
                item = RunReport(run_id, commits[sha].name, action, sha.decode())
                self.report.runs.append(item)
                self.by_id[run_id] = item
            elif item.action == UP_TO_DATE:  # moved since: the glob carried it on
                item.action = action
            item.commit = sha.decode()
        uploading = dict(late)
        needs = {run_id: artifacts[sha] for run_id, sha in late.items()}
        _upload_artifacts(
            self.repo, uploading, needs, self.dvc_remote, self.report, self.by_id, self.say
        )
        for run_id in set(late) - set(uploading):  # its artifacts did not make it
            item = self.by_id[run_id]
            item.error = (
                f"its ref moved during the push and the remote got commit {item.commit}, "
                f"whose artifacts were not uploaded ({item.error}). Once the DVC remote "
                f"works: `git push {self.remote} :{RUN_REF}{run_id}`, then `gitexp push`"
            )
        return late


def upload_artifacts(
    repo: GitRepo, runs: dict[str, ObjectId], dvc_remote: str | None = None, say: Say | None = None
) -> SyncReport:
    """Only the artifacts of ``runs`` (the pre-push hook: git pushes the refs itself)."""
    report = SyncReport("")
    commits = read_run_commits(repo, runs.values())
    artifacts = read_artifacts(repo, commits)
    for run_id, sha in sorted(runs.items()):
        report.runs.append(RunReport(run_id, commits[sha].name, UPDATED, sha.decode()))
    by_id = {item.id: item for item in report.runs}
    needs = {run_id: artifacts[sha] for run_id, sha in runs.items()}
    _upload_artifacts(repo, dict(runs), needs, dvc_remote, report, by_id, say)
    return report


def delete_remote_runs(repo: GitRepo, remote: str, run_ids: list[str]) -> dict[str, str | None]:
    """Delete runs on a git remote (``git push REMOTE :refs/gitexp/runs/<id>``).

    Returns ``{id: None}`` for each run gone from the remote (or never there), else the
    reason git gave.  The mirror ``refs/remotes/<remote>/gitexp/runs/<id>`` goes too.
    Their artifacts stay on the DVC remote until ``gitexp gc --cloud``.
    """
    refspecs = [f":{RUN_REF}{run_id}" for run_id in run_ids]
    code, results = gitbin.push(repo.root, remote, refspecs)
    seen = {result.dest: result for result in results}
    named = is_named_remote(repo.root, remote)
    out: dict[str, str | None] = {}
    for run_id in run_ids:
        result = seen.get(f"{RUN_REF}{run_id}")
        if result is None:
            out[run_id] = f"git push exited with {code} (see git's message above)"
        elif result.ok or "does not exist" in result.summary:
            out[run_id] = None
            if named:
                repo.remove_ref(tracking_prefix(remote) + run_id.encode())
        else:
            out[run_id] = result.summary or "rejected"
    return out
