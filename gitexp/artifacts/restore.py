"""Restoring a run's artifacts next to its code: from the DVC cache, or the remote.

The code restore (reproduce/restore.py) writes the snapshot, the pointer file
``.gitexp-artifacts.dvc`` included; this module then writes each artifact the paths
select, byte for byte from the DVC cache, fetching what the cache lacks from the DVC
remote and checking every file's MD5.  An artifact file already holding the recorded
content is left alone.  A file it would overwrite is at risk, like code, unless git can
bring it back (it equals its index or HEAD version); ``--stash`` does not save artifact
files (they may be large), so only ``--force`` overwrites them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.hashing import file_md5
from gitexp.artifacts.pointers import Artifact, in_work_tree, run_artifacts, under
from gitexp.errors import RepositoryStateError, TransferError
from gitexp.git.repo import MODE_TREE, GitRepo, IndexRecord, ObjectId
from gitexp.render.words import plural
from gitexp.reproduce.restore import RestorePlan


@dataclass
class ArtifactPlan:
    selected: list[Artifact] = field(default_factory=list)
    writes: list[Artifact] = field(default_factory=list)  # not in place yet
    at_risk: list[str] = field(default_factory=list)


def _selected(artifacts: list[Artifact], specs: list[bytes]) -> list[Artifact]:
    chosen = []
    for item in artifacts:
        for spec in specs:
            text = spec.decode("utf-8", "surrogateescape")
            if not text or under(item.path, text) or under(text, item.path):
                chosen.append(item)
                break
    return chosen


def plan_artifacts(
    repo: GitRepo, commit: ObjectId, specs: list[bytes], plan: RestorePlan
) -> ArtifactPlan:
    """Which artifacts to write, and the files that would lose uncommitted content.

    The code plan is adjusted: files under an artifact's path are the artifact's, so
    they are neither removed (``--exact``) nor counted as kept or at risk there.
    """
    out = ArtifactPlan(_selected(in_work_tree(run_artifacts(repo, commit)), specs))
    if not out.selected:
        return out
    for item in out.selected:
        refuse_links(repo.root, item.path)
    paths = [item.path.encode() for item in out.selected]

    def covered(path: bytes) -> bool:
        return any(path == p or path.startswith(p + b"/") for p in paths)

    plan.removals = {p for p in plan.removals if not covered(p)}
    plan.clear = {p for p in plan.clear if not covered(p)}
    plan.kept = [p for p in plan.kept if not covered(p.encode())]
    plan.at_risk = [p for p in plan.at_risk if not covered(p.encode())]
    index = repo.read_index()
    head = repo.head_commit()
    head_tree = repo.commit_info(head)[0] if head else None
    for item in out.selected:
        pending, risky = _compare(repo, item, index, head_tree)
        if pending:
            out.writes.append(item)
        out.at_risk.extend(risky)
    return out


def _compare(
    repo: GitRepo, item: Artifact, index: Mapping[bytes, IndexRecord], head_tree: ObjectId | None
) -> tuple[bool, list[str]]:
    """(whether anything must be written, the at-risk files it would overwrite)."""
    full = os.path.join(repo.root, item.path)
    if not item.digest.isdir:
        return _compare_file(repo, item.path, full, item.digest.md5, index, head_tree)
    if os.path.lexists(full) and not os.path.isdir(full):
        return True, [] if _recoverable(repo, item.path, full, index, head_tree) else [item.path]
    with store_mod.ArtifactStore(repo.root) as store:
        entries = store.tree(item.digest.md5)
    if entries is None:
        return True, []  # the manifest comes from the remote: compared file by file then
    pending, risky = False, []
    for entry in entries:
        rel = f"{item.path}/{entry.relpath}"
        write, lost = _compare_file(
            repo, rel, os.path.join(repo.root, rel), entry.md5, index, head_tree
        )
        pending = pending or write
        risky.extend(lost)
    return pending, risky


def _compare_file(
    repo: GitRepo,
    rel: str,
    full: str,
    md5: str,
    index: Mapping[bytes, IndexRecord],
    head_tree: ObjectId | None,
) -> tuple[bool, list[str]]:
    if not os.path.lexists(full):
        return True, []
    if os.path.isfile(full) and not os.path.islink(full):
        try:
            if file_md5(full) == md5:
                return False, []
        except OSError:
            pass
    return True, [] if _recoverable(repo, rel, full, index, head_tree) else [rel]


def _recoverable(
    repo: GitRepo,
    rel: str,
    full: str,
    index: Mapping[bytes, IndexRecord],
    head_tree: ObjectId | None,
) -> bool:
    """Whether git can bring the file back: it equals its staged or HEAD version."""
    path = rel.encode()
    record = index.get(path)
    in_head = repo.lookup_path(head_tree, path) if head_tree is not None else None
    if record is None and in_head is None:
        return False
    if os.path.isdir(full) and not os.path.islink(full):
        return False
    try:
        with open(full, "rb") as handle:
            sha = repo.blob_id(handle.read())
    except OSError:
        return False
    staged = record.sha if record is not None else None
    return sha == staged or (in_head is not None and in_head[0] != MODE_TREE and in_head[1] == sha)


def materialize(
    repo: GitRepo, writes: list[Artifact], say: Callable[[str], None] | None = None
) -> list[str]:
    """Write the artifacts, fetching missing objects from the DVC remote; their paths."""
    if not writes:
        return []
    if not store_mod.has_project(repo.root):
        raise store_mod.no_project_error(repo.root)
    with store_mod.ArtifactStore(repo.root) as store:
        absent = _absent(store, writes)
        if absent:
            name = store.remote_name()
            if say:
                say(f"fetching {plural(len(absent), 'artifact object')} from DVC remote {name}")
            outcome = store.fetch(absent, name)
            lost = outcome.failed | outcome.missing
            if lost:
                detail = "; ".join(outcome.messages[:3]) or "not on the remote"
                raise TransferError(
                    f"{plural(len(lost), 'artifact object')} could not be fetched from DVC remote "
                    f"{name}: {detail}",
                    "The code was restored. Check the DVC remote (`dvc remote list`) and "
                    "your access to it, then run `gitexp restore` again.",
                )
            absent = _absent(store, writes)  # a folder's files, now that its manifest is here
            if absent:
                store.fetch(absent, name)
        written = []
        for item in writes:
            refuse_links(repo.root, item.path)  # again: the work tree may have changed
            store.checkout(item.digest, os.path.join(repo.root, item.path))
            written.append(item.path)
    return written


def refuse_links(root: str, path: str) -> None:
    """Refuse an artifact whose path, or a folder on the way to it, is a symbolic link in
    the work tree: DVC would write through it, outside the work tree or into .git."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        here = "/".join(parts[:depth])
        if os.path.islink(os.path.join(root, here)):
            raise RepositoryStateError(
                f"artifact {path!r} would be written through the symbolic link {here!r} "
                "in the work tree; nothing was written there",
                f"Remove or rename the link {here!r}, then run `gitexp restore` again.",
            )


def _absent(store: store_mod.ArtifactStore, writes: list[Artifact]) -> set[str]:
    needed = store.objects({item.digest for item in writes})
    every: set[str] = set().union(*needed.values()) if needed else set()
    return every - store.in_cache(every)
