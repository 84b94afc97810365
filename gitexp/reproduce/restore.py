"""Restoring a run's snapshot into a work tree without ever losing the user's work.

The plan compares the run's snapshot (the run commit's tree without ``.gitexp/``) with
the work tree as ``git add -A`` would see it.  A file that restore would overwrite or
remove is *at risk* when git cannot bring its current content back: it differs from
both the index and HEAD, it is untracked, or it is ignored.  Restore refuses while
anything is at risk, unless the caller stashes those files first (a commit under
``refs/gitexp/stash/``) or forces.  HEAD, the index and branches are never touched;
ignored files are never removed; ``.gitexp/`` is never written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gitexp.errors import FormatError, RepositoryStateError, UsageError
from gitexp.git.repo import (
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    S_IFGITLINK,
    GitRepo,
    ObjectId,
)
from gitexp.model.record import META_DIR
from gitexp.record.snapshot import take_snapshot

STASH_PREFIX = b"refs/gitexp/stash/"
MAX_LISTED = 20

Entry = tuple[int, ObjectId]  # (git mode, blob id)


@dataclass
class RestorePlan:
    """What restoring a snapshot into a work tree would do."""

    writes: dict[bytes, Entry] = field(default_factory=dict)  # create or overwrite
    removals: set[bytes] = field(default_factory=set)  # files the run did not have (--exact)
    clear: set[bytes] = field(default_factory=set)  # files or folders in the way of a write
    at_risk: list[str] = field(default_factory=list)  # uncommitted work restore would destroy
    kept: list[str] = field(default_factory=list)  # files the run did not have, left in place
    submodules: list[str] = field(default_factory=list)  # gitlinks: not restored
    current: dict[bytes, Entry] = field(default_factory=dict)  # the work tree as git sees it

    @property
    def removed(self) -> list[str]:
        return sorted(_show(p) for p in self.removals | self.clear)

    @property
    def written(self) -> list[str]:
        return sorted(_show(p) for p in self.writes)


def _show(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")


def pathspecs(repo: GitRepo, paths: Iterable[str], cwd: str | None = None) -> list[bytes]:
    """PATH arguments (relative to ``cwd``) as repository paths; ``b""`` is everything."""
    base = os.path.abspath(cwd or os.getcwd())
    root = os.path.realpath(repo.root)
    specs: list[bytes] = []
    for given in paths:
        absolute = os.path.normpath(os.path.join(base, given))
        # Resolve links in the folders only: a PATH naming a symbolic link means the link.
        resolved = os.path.join(
            os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute)
        )
        resolved = resolved.rstrip(os.sep) or os.sep
        if resolved != root and not resolved.startswith(root + os.sep):
            raise UsageError(
                f"{given} is outside the repository ({repo.root})",
                "Name paths inside the work tree, relative to the current folder.",
            )
        rel = os.path.relpath(resolved, root)
        spec = b"" if rel == "." else os.fsencode(rel.replace(os.sep, "/"))
        if spec.split(b"/")[0] == META_DIR.encode():
            raise UsageError(
                f"{given}: the run's {META_DIR}/ metadata is never written into the work tree",
                f"Read it with `git show refs/gitexp/runs/<id>:{META_DIR}/run.json`.",
            )
        specs.append(spec)
    return specs or [b""]


def _matches(path: bytes, specs: list[bytes]) -> bool:
    return any(not s or path == s or path.startswith(s + b"/") for s in specs)


def snapshot_files(repo: GitRepo, root_tree: ObjectId) -> dict[bytes, Entry]:
    """The run's snapshot: every file of the run commit's tree except ``.gitexp/``."""
    files: dict[bytes, Entry] = {}
    for name, (mode, sha) in repo.tree_entries(root_tree).items():
        if name == META_DIR.encode():
            continue
        _check_name(name)
        if mode == MODE_TREE:
            for path, sub_mode, sub_sha in repo.iter_files(sha, name + b"/"):
                for part in path.split(b"/"):
                    _check_name(part)
                files[path] = (sub_mode, sub_sha)
        else:
            files[name] = (mode, sha)
    return files


def _check_name(part: bytes) -> None:
    # A tree fetched from someone else must not write outside the work tree or into .git.
    if part in (b"", b".", b"..") or part.lower() == b".git" or b"\0" in part or b"/" in part:
        raise FormatError(
            f"the run's snapshot holds an unsafe path element {part!r}; refusing to write it",
            "Inspect the run with `git ls-tree -r refs/gitexp/runs/<id>`.",
        )


def plan_restore(
    repo: GitRepo,
    target: dict[bytes, Entry],
    specs: list[bytes],
    exact: bool,
    artifact_paths: Sequence[bytes] = (),
) -> RestorePlan:
    """Compare ``target`` with the work tree under ``specs``; nothing is written.

    ``artifact_paths`` are the run's artifacts: not in its tree, but a path naming one
    (or a file inside a folder artifact) is the run's all the same.
    """
    snap = take_snapshot(repo)  # stores the blobs of changed files: a stash reuses them
    current = {path: (mode, sha) for path, mode, sha in snap.files if _matches(path, specs)}
    plan = RestorePlan(current=current)
    root = os.fsencode(repo.root)
    wanted = {p: e for p, e in target.items() if _matches(p, specs)}
    missing = [
        s
        for s in specs
        if s
        and not any(_matches(p, [s]) for p in wanted)
        and not any(_matches(a, [s]) or _matches(s, [a]) for a in artifact_paths)
    ]
    if missing and not (exact and any(_matches(p, missing) for p in current)):
        raise UsageError(
            f"{_show(missing[0])} is not in the run's snapshot",
            "See the run's files with `gitexp show RUN` (or `git ls-tree -r --name-only "
            "refs/gitexp/runs/<id>`).",
        )
    for path, entry in sorted(wanted.items()):
        if entry[0] == S_IFGITLINK:
            if current.get(path) != entry:
                plan.submodules.append(_show(path))
            continue
        if current.get(path) == entry:
            continue
        _clear_parents(root, path, plan)
        full = os.path.join(root, path)
        if os.path.isdir(full) and not os.path.islink(full):
            plan.clear.add(path)
        elif path not in current and os.path.lexists(full):
            if _disk_entry(repo, full) == entry:
                continue  # an ignored or left-out file that already has the run's content
            plan.clear.add(path)
        plan.writes[path] = entry
    for path, (mode, _sha) in sorted(current.items()):
        if path in wanted or mode == S_IFGITLINK or _under(path, plan.clear):
            continue
        if exact:
            plan.removals.add(path)
        else:
            plan.kept.append(_show(path))
    plan.at_risk = _at_risk(repo, plan, root)
    return plan


def _under(path: bytes, prefixes: set[bytes]) -> bool:
    return any(path == p or path.startswith(p + b"/") for p in prefixes)


def _clear_parents(root: bytes, path: bytes, plan: RestorePlan) -> None:
    """A file or link where the snapshot needs a folder must go first."""
    parts = path.split(b"/")[:-1]
    for depth in range(1, len(parts) + 1):
        parent = b"/".join(parts[:depth])
        if parent in plan.clear:
            return
        try:
            st = os.lstat(os.path.join(root, parent))
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            plan.clear.add(parent)
            return


def _disk_entry(repo: GitRepo, full: bytes) -> Entry | None:
    """(mode, blob id) of a file git's view left out (ignored, secret-looking, large)."""
    try:
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            return MODE_LINK, repo.blob_id(os.readlink(full))
        if not stat.S_ISREG(st.st_mode):
            return None
        with open(full, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return (MODE_EXEC if st.st_mode & 0o111 else MODE_FILE), repo.blob_id(data)


def _affected(root: bytes, plan: RestorePlan) -> list[bytes]:
    """Every file restore would overwrite or remove (folders in the way: their files)."""
    paths = set(plan.removals)
    for path in plan.clear:
        full = os.path.join(root, path)
        if os.path.isdir(full) and not os.path.islink(full):
            for dirpath, dirs, names in os.walk(full):
                # Links to folders are listed among dirs (and not entered): files too.
                links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
                for name in [*names, *links]:
                    paths.add(os.path.relpath(os.path.join(dirpath, name), root))
        else:
            paths.add(path)
    for path in plan.writes:
        if path in plan.current:
            paths.add(path)
    return sorted(paths)


def _at_risk(repo: GitRepo, plan: RestorePlan, root: bytes) -> list[str]:
    index = repo.read_index()
    head = repo.head_commit()
    head_tree = repo.commit_info(head)[0] if head else None
    risky: list[str] = []
    for path in _affected(root, plan):
        entry = plan.current.get(path) or _disk_entry(repo, os.path.join(root, path))
        record = index.get(path)
        if record is not None and entry == (record.mode, record.sha):
            continue
        if (
            head_tree is not None
            and entry is not None
            and repo.lookup_path(head_tree, path) == entry
        ):
            continue
        risky.append(_show(path))
    return risky


def stash_at_risk(repo: GitRepo, plan: RestorePlan, run_id: str) -> tuple[str, str]:
    """Save the work tree before restoring: a commit holding every file as it is now.

    The commit's tree is the work tree as ``git add -A`` sees it plus the at-risk files
    git's view leaves out (ignored ones), parented on HEAD.  Returns the ref and the
    plain-git command that brings the at-risk files back.
    """
    root = os.fsencode(repo.root)
    files = dict(plan.current)
    for shown in plan.at_risk:
        path = os.fsencode(shown)
        if path in files:
            continue
        full = os.path.join(root, path)
        try:
            if os.path.islink(full):
                data = os.readlink(full)
                mode = MODE_LINK
            else:
                with open(full, "rb") as handle:
                    data = handle.read()
                mode = MODE_EXEC if os.stat(full).st_mode & 0o111 else MODE_FILE
        except OSError as exc:
            raise RepositoryStateError(
                f"cannot stash {shown}: {exc.strerror}",
                "Move it out of the way yourself, or overwrite it with --force.",
            ) from None
        files[path] = (mode, repo.write_blob(data))
    tree = repo.write_tree((p, mode, sha) for p, (mode, sha) in sorted(files.items()))
    head = repo.head_commit()
    message = f"gitexp: work tree before restoring run {run_id}\n\n" + "".join(
        f"at risk: {p}\n" for p in plan.at_risk
    )
    commit = repo.write_commit(tree, [head] if head else [], message)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(100):
        name = STASH_PREFIX + (f"{stamp}-{attempt}" if attempt else stamp).encode()
        if repo.create_ref(name, commit, b"gitexp: stash before restore"):
            ref = name.decode()
            return ref, recovery_command(ref, plan.at_risk)
    raise RepositoryStateError("could not create a stash ref", "Try again in a second.")


def recovery_command(ref: str, paths: list[str]) -> str:
    import shlex

    literal = any(c in p for p in paths for c in "*?[:\\") or any(p.startswith(":") for p in paths)
    prefix = "git --literal-pathspecs" if literal else "git"
    return f"{prefix} restore --source={ref} -- " + " ".join(shlex.quote(p) for p in paths)


def apply_plan(repo: GitRepo, plan: RestorePlan) -> None:
    """Carry out a plan: remove what is in the way, then write files with their modes."""
    root = os.fsencode(repo.root)
    for path in sorted(plan.removals | plan.clear, key=lambda p: -p.count(b"/")):
        full = os.path.join(root, path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)
    for path in sorted(plan.removals):
        _prune_empty_parents(root, path)
    for path, (mode, sha) in sorted(plan.writes.items()):
        write_entry(os.path.join(root, path), mode, repo.read_blob(sha))


def _prune_empty_parents(root: bytes, path: bytes) -> None:
    parent = path.rpartition(b"/")[0]
    while parent:
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            return  # not empty (or already gone): git leaves it too
        parent = parent.rpartition(b"/")[0]


def write_entry(full: bytes, mode: int, data: bytes) -> None:
    """Write one file or symbolic link atomically (a temporary name, then rename)."""
    folder = os.path.dirname(full)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, b".gitexp-restore-" + str(os.getpid()).encode() + b".tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    if mode == MODE_LINK:
        os.symlink(data, tmp)
    else:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777 if mode == MODE_EXEC else 0o666
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    os.replace(tmp, full)
