"""A git branch holding a run's code, so work can go on from a good run with plain git."""

from __future__ import annotations

from dataclasses import dataclass

from gitexp.errors import RepositoryStateError, UsageError
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.ids import short_id
from gitexp.model.record import META_DIR, REF_PREFIX
from gitexp.read.runview import RunView


@dataclass
class BranchResult:
    ref: str
    commit: ObjectId
    new_commit: bool  # False: the run's code was its baseline commit, the branch points there


def branch_from_run(repo: GitRepo, view: RunView, name: str) -> BranchResult:
    """Create ``refs/heads/<name>``: the run's snapshot, parented on the run's baseline.

    The run's ``.gitexp/`` metadata is left out, so merging the branch never brings run
    records into the project's history; the commit message names the run instead.  A run
    whose snapshot equals its baseline gets no new commit: the branch points at the
    baseline.  An existing branch is never moved.
    """
    ref = f"refs/heads/{name}".encode()
    if name.startswith("-") or not repo.valid_ref_name(ref):
        raise UsageError(
            f"{name!r} is not a valid branch name",
            "Use a name git accepts, e.g. `good-lr-0.01` (see `git check-ref-format`).",
        )
    if repo.read_ref(ref) is not None:
        raise RepositoryStateError(
            f"branch {name} exists already",
            "Pick another name, or delete it first with `git branch -D " + name + "`.",
        )
    entries = {k: v for k, v in repo.tree_entries(view.root_tree).items() if k != META_DIR.encode()}
    tree = repo.write_tree_over(None, entries)
    baseline = view.info.baseline.encode() if view.info.baseline else None
    if baseline is not None and not repo.has_object(baseline):
        raise RepositoryStateError(
            f"the run's baseline commit {view.info.baseline} is not in this repository",
            "Fetch the history it was recorded on (`git fetch origin`), then try again.",
        )
    if baseline is not None and repo.commit_info(baseline)[0] == tree:
        commit, created = baseline, False
    else:
        info = view.info
        message = (
            f"Code of gitexp run {info.name} ({short_id(info.id)})\n\n"
            f"{' '.join(info.command)}\n\n"
            f"gitexp-run-ref: {(REF_PREFIX + info.id.encode()).decode()}\n"
        )
        commit = repo.write_commit(tree, [baseline] if baseline else [], message)
        created = True
    if not repo.create_ref(ref, commit, f"gitexp: branch from run {view.info.id}".encode()):
        raise RepositoryStateError(f"branch {name} was created by someone else meanwhile")
    return BranchResult(ref.decode(), commit, created)
