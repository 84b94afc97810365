"""Ignored inputs: what a run could read that git does not hold, and a cheap fingerprint.

A ``data/`` folder or downloaded weights are ignored by git, so they are not in a run's
snapshot.  A run records their paths, sizes and modification times in
``.gitexp/inputs.json`` (computed off the start-up path), so that ``gitexp rerun`` can
say when an input changed.  ``gitexp rerun`` links the same ignored entries into its
isolated checkout (:func:`link_inputs`).

The listing is bounded: environment folders (``.venv``, ``node_modules``, caches) are
not entered, and at most :data:`MAX_ENTRIES` files are listed (``truncated`` says so),
because a fingerprint that takes minutes is worse than a partial one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Container, Mapping

from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypedDict

    from gitexp.model.shapes import InputsFile

    class InputChanges(TypedDict):
        added: list[str]
        removed: list[str]
        modified: list[dict[str, object]]  # {path, size: [before, now]}
        touched: list[str]  # only the modification time changed
        truncated: bool


INPUTS_FORMAT = 1
RESERVED_TOP = ".gitexp"  # gitexp's own folder at the top of a work tree, never an input
MAX_ENTRIES = 10_000
MAX_VISITS = 50_000  # folders and files looked at, listed or not: bounds a deep empty tree
MAX_PATH_BYTES = 512 * 1024  # keeps inputs.json well under the 1 MiB a live file may hold

# Folders holding environments and caches, not inputs: never fingerprinted.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".gitexp",
        ".venv",
        "venv",
        "env",
        ".conda",
        "site-packages",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        ".hypothesis",
    }
)


RootsQuery = Callable[[], "list[str] | None"]


def start_roots_query(repo: GitRepo) -> RootsQuery:
    """Ask git for the ignored entries now; :func:`ignored_roots` takes the answer."""
    extra = os.path.join(repo.root, ".gitexpignore")
    return gitbin.ignored_untracked(repo.root, [extra] if os.path.isfile(extra) else [])


def ignored_roots(repo: GitRepo, query: RootsQuery | None = None) -> list[str]:
    """Ignored entries whose parent folder is not ignored, as ``/``-separated paths.

    These are the places git stops looking: everything below them is ignored too.
    Nested repositories and the reserved top-level ``.gitexp`` folder are left out, and
    ``.gitexpignore`` counts as ignore rules.  Asked of git itself (one ``git ls-files``,
    which leaves the interpreter lock to the run starting beside it), else walked.
    """
    found = (query or start_roots_query(repo))()
    if found is None:
        return _walk_for_roots(repo)
    # git also names what lies inside a folder whose every entry is ignored (`src/`,
    # `src/deep/`, `src/deep/run.ckpt`): the folder is the root.
    roots: list[str] = []
    for path in sorted(found):
        if path.rstrip("/") == RESERVED_TOP or (roots and path.startswith(roots[-1] + "/")):
            continue
        roots.append(path.rstrip("/"))
    return roots


def _walk_for_roots(repo: GitRepo) -> list[str]:
    """:func:`ignored_roots` where git cannot answer: a walk asking dulwich's rules.

    It differs from git's answer in two cases that fingerprint the same files or fewer:
    for an ignored folder that holds tracked files git names the ignored entries inside
    it, this walk the folder; for a folder not ignored itself whose every entry is
    ignored git names the folder, this walk the entries.
    """
    roots: list[bytes] = []
    # Tracked files are never ignored inputs: skipping their ignore check is most of the
    # walk's cost in a large repository (20,000 checks for 20,000 tracked files).  The
    # index is the one the snapshot read (GitRepo keeps it while the file is unchanged).
    _find_roots(repo, os.fsencode(repo.root), b"", roots, repo.read_index())
    return sorted(path.decode("utf-8", "surrogateescape") for path in roots)


def _find_roots(
    repo: GitRepo, abs_dir: bytes, rel_dir: bytes, out: list[bytes], tracked: Container[bytes]
) -> None:
    try:
        entries = list(os.scandir(abs_dir))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name == b".git" or (not rel_dir and name == b".gitexp"):
            continue
        rel = rel_dir + b"/" + name if rel_dir else name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            if repo.is_ignored(rel.decode("utf-8", "surrogateescape") + "/"):
                out.append(rel)
            elif not os.path.lexists(os.path.join(entry.path, b".git")):
                _find_roots(repo, entry.path, rel, out, tracked)
        elif rel not in tracked and repo.is_ignored(rel.decode("utf-8", "surrogateescape")):
            out.append(rel)


def fingerprint(root: str, roots: list[str]) -> InputsFile:
    """``inputs.json``: every file under the ignored ``roots`` as [path, size, mtime_ns].

    Symbolic links are followed (a linked folder is an input like any other), each real
    folder is entered once, so a link loop cannot trap the walk.
    """
    walk = _Walk(root)
    for rel in roots:
        if walk.full:
            break
        if os.path.basename(rel) in SKIP_DIRS:
            walk.skipped.append(rel)
            continue
        walk.visit(rel)
    return {
        "format": INPUTS_FORMAT,
        "count": len(walk.files),
        "truncated": walk.full,
        "skipped": sorted(walk.skipped),
        "files": sorted(walk.files),
    }


class _Walk:
    def __init__(self, root: str) -> None:
        self.root = root
        self.files: list[list[str | int]] = []
        self.skipped: list[str] = []
        self.seen_dirs: set[tuple[int, int]] = set()
        self.visits = 0
        self.path_bytes = 0

    @property
    def full(self) -> bool:
        return (
            len(self.files) >= MAX_ENTRIES
            or self.visits >= MAX_VISITS
            or self.path_bytes >= MAX_PATH_BYTES
        )

    def visit(self, rel: str) -> None:
        self.visits += 1
        try:
            st = os.stat(os.path.join(self.root, rel))
        except OSError:
            return  # a dangling link or a file that just went away: nothing to read
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in self.seen_dirs:
                return
            self.seen_dirs.add(key)
            try:
                names = sorted(os.listdir(os.path.join(self.root, rel)))
            except OSError:
                return
            for name in names:
                if self.full:
                    return
                if name in SKIP_DIRS:
                    self.skipped.append(f"{rel}/{name}")
                    continue
                self.visit(f"{rel}/{name}")
        elif stat.S_ISREG(st.st_mode):
            self.files.append([rel, st.st_size, st.st_mtime_ns])
            self.path_bytes += len(rel) + 40


def take_fingerprint(repo: GitRepo, query: RootsQuery | None = None) -> InputsFile:
    return fingerprint(repo.root, ignored_roots(repo, query))


def diff_inputs(
    old: Mapping[str, object] | None, new: Mapping[str, object] | None
) -> InputChanges | None:
    """What changed between two fingerprints; None when nothing did (or one is missing).

    ``modified``: size changed; ``touched``: only the modification time changed (the same
    data copied or downloaded again looks like this).
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    a, b = _files(old), _files(new)
    changes: InputChanges = {
        "added": sorted(b.keys() - a.keys()),
        "removed": sorted(a.keys() - b.keys()),
        "modified": [
            {"path": p, "size": [a[p][0], b[p][0]]}
            for p in sorted(a.keys() & b.keys())
            if a[p][0] != b[p][0]
        ],
        "touched": [p for p in sorted(a.keys() & b.keys()) if a[p][0] == b[p][0] and a[p] != b[p]],
        "truncated": bool(old.get("truncated") or new.get("truncated")),
    }
    if not any((changes["added"], changes["removed"], changes["modified"], changes["touched"])):
        return None
    return changes


def _files(fingerprint: Mapping[str, object]) -> dict[str, tuple[object, object]]:
    """{path: (size, mtime_ns)} of a fingerprint read back (entries too short left out)."""
    files = fingerprint.get("files") or []
    if not isinstance(files, list):
        return {}
    return {str(item[0]): (item[1], item[2]) for item in files if len(item) >= 3}


def link_inputs(source_root: str, target_root: str, roots: list[str]) -> list[str]:
    """Make the ignored ``roots`` of ``source_root`` visible in ``target_root``.

    A folder becomes a real folder whose entries are symbolic links, not a link itself:
    git's folder-only patterns (``data/``) match a folder but not a link to one, so a
    linked folder would show up as an untracked file in the rerun's snapshot.  Entries
    the checkout has already (tracked files inside an ignored folder) are kept.
    Returns the paths linked.
    """
    linked: list[str] = []
    for rel in roots:
        _link(os.path.join(source_root, rel), os.path.join(target_root, rel), rel, linked)
    return linked


def _link(source: str, target: str, rel: str, linked: list[str]) -> None:
    try:
        source_is_dir = os.path.isdir(source) and not os.path.islink(source)
    except OSError:
        return
    if not source_is_dir:
        if not os.path.lexists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.path.abspath(source), target)
            linked.append(rel)
        return
    if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target)):
        return  # the checkout has a file here: the snapshot wins
    os.makedirs(target, exist_ok=True)
    try:
        names = sorted(os.listdir(source))
    except OSError:
        return
    for name in names:
        child_target = os.path.join(target, name)
        child_source = os.path.join(source, name)
        if os.path.lexists(child_target):
            if os.path.isdir(child_target) and not os.path.islink(child_target):
                _link(child_source, child_target, f"{rel}/{name}", linked)
            continue
        os.symlink(os.path.abspath(child_source), child_target)
        linked.append(f"{rel}/{name}")
