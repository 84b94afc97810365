"""``gitexp gc``: remove artifacts no run references, from the DVC cache and the remote.

An object is kept when any of these uses it:

* a run here (``refs/gitexp/runs/*``) or a run seen on a remote (the mirrors
  ``refs/remotes/<remote>/gitexp/runs/*``; with ``--cloud`` the git remote's runs are
  fetched first, so runs other machines pushed count too);
* DVC itself: the work tree and every commit of branches, tags and remote-tracking refs
  (what ``dvc gc --workspace --all-commits`` keeps), so a user's own DVC data is safe;
* it was written less than ``keep_recent`` seconds ago: a run being finalized, or a
  push between uploading artifacts and pushing the run's ref, is not referenced yet.

Nothing is removed when a folder artifact's manifest cannot be read (its files could
not be told apart from garbage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.pointers import Artifact, run_artifacts
from gitexp.errors import RepositoryStateError
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.record import REF_PREFIX
from gitexp.render.progress import NO_PROGRESS, Progress


@dataclass
class GcResult:
    where: str  # "cache" or "remote <name>"
    total: int = 0
    removed: list[str] = field(default_factory=list)
    kept_recent: int = 0


def run_commits(repo: GitRepo) -> dict[str, ObjectId]:
    """Every run this clone knows: its own and the mirrors of remotes' runs."""
    commits = {f"runs/{k.decode()}": v for k, v in repo.list_refs(REF_PREFIX).items()}
    for name, sha in repo.list_refs(b"refs/remotes/").items():
        if b"/gitexp/runs/" in name:
            commits[f"remotes/{name.decode()}"] = sha
    return commits


def referenced(
    repo: GitRepo,
    store: store_mod.ArtifactStore,
    remote: str | None,
    progress: Progress = NO_PROGRESS,
) -> set[str]:
    """Every object a run or DVC uses (see the module docstring)."""
    seen: dict[str, Artifact] = {}
    commits = set(run_commits(repo).values())
    with progress.counter(len(commits), "reading runs' artifacts", "run") as advance:
        for sha in commits:
            for item in run_artifacts(repo, sha, versions=True):
                seen.setdefault(item.digest.md5, item)
            advance(1)
    used = set(seen)
    for md5, item in seen.items():
        if not item.digest.isdir:
            continue
        entries = store.tree(md5, remote)
        if entries is None:
            raise RepositoryStateError(
                f"cannot read the folder manifest {md5} of artifact {item.path}: nothing "
                "removed (its files could not be told apart from unused ones)",
                "Fetch it (`gitexp pull`), or check the DVC remote, then run gc again.",
            )
        used.update(entry.md5 for entry in entries)
    used |= store.used_by_dvc()
    return used


def collect(
    store: store_mod.ArtifactStore,
    used: set[str],
    remote: str | None,
    keep_recent: float,
    dry_run: bool,
    progress: Progress = NO_PROGRESS,
) -> GcResult:
    """Remove the unused objects of the cache (``remote`` None) or of a DVC remote."""
    result = GcResult("cache" if remote is None else f"remote {remote}")
    with progress.counter(None, f"listing the {result.where}", "object") as advance:
        objects = store.list_objects(remote, advance)
    result.total = len(objects)
    doomed = []
    for oid, mtime in sorted(objects.items()):
        if oid in used:
            continue
        age = store_mod.age_seconds(mtime)
        if keep_recent > 0 and (age is None or age < keep_recent):
            result.kept_recent += 1
            continue
        doomed.append(oid)
    if doomed and not dry_run:
        store.remove_objects(doomed, remote)
    result.removed = doomed
    return result


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``2d`` or plain seconds."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:], 0)
    number = text[:-1] if scale else text
    try:
        return float(number) * (scale or 1)
    except ValueError:
        from gitexp.errors import UsageError

        raise UsageError(
            f"not a duration: {text!r}", "Use seconds or 90s, 30m, 1h, 2d; 0 keeps nothing."
        ) from None


def collect_garbage(
    root: str,
    git_remote: str | None,
    dvc_remote: str | None,
    keep_recent: float,
    dry_run: bool,
    progress: Progress,
    say: Callable[[str], None],
) -> list[GcResult]:
    """``gitexp gc``: the local cache, and with ``git_remote`` (``--cloud``) the DVC remote
    too, after fetching the git remote's runs so that their artifacts count as used."""
    from gitexp.share.pull import drop_mirror, fetch_mirror

    if not store_mod.has_project(root):
        raise store_mod.no_project_error(root)
    prefix = None
    if git_remote is not None:
        say(f"fetching the runs of {git_remote}: their artifacts count as used")
        prefix = fetch_mirror(root, git_remote)
    results = []
    with GitRepo.discover(root) as repo, store_mod.ArtifactStore(root, progress.enabled) as store:
        try:
            remote = store.remote_name(dvc_remote) if git_remote is not None else None
            used = referenced(repo, store, remote, progress)
            for where in [None] if remote is None else [None, remote]:
                results.append(collect(store, used, where, keep_recent, dry_run, progress))
        finally:
            if prefix is not None:
                drop_mirror(repo, prefix)
    return results
