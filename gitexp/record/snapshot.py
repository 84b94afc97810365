"""The workspace snapshot: what ``git add -A`` would commit, without touching the index,
minus what is not code (each left-out path listed in ``skipped`` with its reason).

Tracked files keep their index blob when the index's stat data says they are unchanged
(git's own trick, racy-git rule included), so an 800-file repository with one edit
reads one file.  Ignored folders are never entered, so a ``.venv`` with 100,000 files
costs one ignore check.  Nothing is written to the workspace or the index.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from gitexp.git.repo import (
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    S_IFGITLINK,
    GitRepo,
    IndexRecord,
    ObjectId,
)
from gitexp.record.notcode import (
    BINARY,
    OUTPUT,
    TENSORBOARD,
    holds_event_files,
    max_binary_size,
    max_file_size,
    read_unless_binary,
    tool_output,
)
from gitexp.record.secrets import holds_secret, looks_secret, tracked_secret_warnings
from gitexp.slotted import Slotted

RESERVED_DIR = b".gitexp"  # the run's metadata folder; a workspace folder of this name is left out
# Skipped files up to this size get an MD5 in snapshot.json (about 1 s of hashing here).
MD5_MAX_BYTES = 1 << 30


class SkippedFile(Slotted):
    """A workspace file the snapshot left out, and why."""

    _fields = ("path", "reason", "size", "md5", "mtime_ns")
    __slots__ = _fields
    path: str
    # "too-large", "binary", "output", "tool-output:<tool>", "secret", "unreadable",
    # "nested-repository", "reserved", "special"
    reason: str
    size: int | None
    md5: str | None
    mtime_ns: int | None

    def __init__(
        self,
        path: str,
        reason: str,
        size: int | None = None,
        md5: str | None = None,
        mtime_ns: int | None = None,
    ) -> None:
        self.path, self.reason, self.size, self.md5, self.mtime_ns = (
            path,
            reason,
            size,
            md5,
            mtime_ns,
        )

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "reason": self.reason}
        if self.size is not None:
            out["size"] = self.size
        if self.md5 is not None:
            out["md5"] = self.md5
        return out


class Snapshot(Slotted):
    """The result: a tree id plus what a user needs to trust it."""

    _fields = (
        "files",
        "baseline",
        "modified",
        "deleted",
        "untracked",
        "skipped",
        "warnings",
        "submodules",
    )
    __slots__ = _fields
    files: list[tuple[bytes, int, ObjectId]]
    baseline: ObjectId | None
    modified: list[str]
    deleted: list[str]
    untracked: list[str]
    skipped: list[SkippedFile]
    warnings: list[str]
    submodules: list[dict[str, object]]  # {"path", "commit", "dirty"} per checked-out submodule

    def __init__(self, files: list[tuple[bytes, int, ObjectId]], baseline: ObjectId | None) -> None:
        self.files, self.baseline = files, baseline
        self.modified, self.deleted, self.untracked = [], [], []
        self.skipped: list[SkippedFile] = []
        self.warnings: list[str] = []
        self.submodules: list[dict[str, object]] = []

    @property
    def dirty(self) -> bool:
        return bool(self.modified or self.deleted or self.untracked)


def _file_mode(st: os.stat_result) -> int | None:
    """The git mode of a regular file or symlink; None for anything else."""
    st_mode = st.st_mode
    kind = stat.S_IFMT(st_mode)
    if kind == stat.S_IFREG:
        return MODE_EXEC if st_mode & 0o111 else MODE_FILE
    if kind == stat.S_IFLNK:
        return MODE_LINK
    return None


def _read(abspath: bytes, mode: int) -> bytes:
    if mode == MODE_LINK:
        return os.readlink(abspath)
    with open(abspath, "rb") as handle:
        return handle.read()


class _Walker:
    def __init__(self, repo: GitRepo, include: frozenset[str], outputs: frozenset[str]) -> None:
        self.repo = repo
        self.root = repo.root.encode("utf-8", "surrogateescape")
        self.index = repo.read_index()
        self.racy_cutoff = repo.index_mtime_ns()
        # "wandb/" and "./wandb" name the folder "wandb", as git's pathspecs do.
        self.include = frozenset(_normal(path) for path in include)
        self.included = {path.encode("utf-8", "surrogateescape") for path in self.include}
        # Folders that hold an --include path: entered even inside a left-out folder.
        self.include_dirs = _ancestor_dirs(self.included)
        self.outputs = {path.encode("utf-8", "surrogateescape") for path in outputs}
        self._size_limit: int | None = None  # read from the config on first need
        self._binary_limit: int | None = None
        self.tracked_dirs = _ancestor_dirs(self.index)
        self.snap = Snapshot(files=[], baseline=repo.head_commit())
        self.seen: set[bytes] = set()
        self.ignored_dirs: dict[bytes, bool] = {}
        self.tracked_secrets: list[str] = []  # changed tracked files that look secret

    @property
    def size_limit(self) -> int:
        if self._size_limit is None:
            self._size_limit = max_file_size(self.repo)
        return self._size_limit

    @property
    def binary_limit(self) -> int:
        if self._binary_limit is None:
            self._binary_limit = max_binary_size(self.repo)
        return self._binary_limit

    def walk(self, rel_dir: bytes, left_out: bool = False) -> None:
        """Visit one folder (one the ignore rules do not prune, or one with tracked files).

        ``left_out``: the folder is an output, listed in ``skipped`` already; only its
        tracked files and what --include names are kept.
        """
        abs_dir = os.path.join(self.root, rel_dir) if rel_dir else self.root
        try:
            entries = list(os.scandir(abs_dir))
        except OSError as exc:
            self.snap.warnings.append(f"could not read folder {_show(rel_dir)}: {exc.strerror}")
            return
        prefix = rel_dir + b"/" if rel_dir else b""
        index_get = self.index.get
        keep = self.snap.files.append
        mark_seen = self.seen.add
        cutoff = self.racy_cutoff
        # Asked once, at the first entry off the fast path: a folder of TensorBoard event
        # files always has untracked entries, and most folders have none.
        events_checked = left_out or not rel_dir
        for entry in entries:
            name = entry.name
            rel = prefix + name
            record = index_get(rel)
            if record is not None and _unchanged(entry, record, cutoff) and rel != RESERVED_DIR:
                mark_seen(rel)  # the common case, kept lean: a tracked file git would skip
                keep((rel, record.mode, record.sha))
                continue
            if name == b".git":
                continue
            if not rel_dir and name == RESERVED_DIR:
                self.snap.skipped.append(SkippedFile(_show(rel), "reserved"))
                continue
            if not events_checked:
                events_checked = True
                if rel_dir not in self.included and holds_event_files(entries):
                    if not self._dir_ignored(rel_dir):
                        self.snap.skipped.append(SkippedFile(_show(rel_dir), TENSORBOARD))
                    if not self._holds_kept(rel_dir):
                        return  # nothing tracked in it: the whole folder stays out
                    left_out = True
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if record is not None and record.mode == S_IFGITLINK:
                    self._submodule(rel, record)
                else:
                    self._enter(rel, entry, left_out)
                continue
            if record is not None:
                self._tracked(entry, rel, record)
                continue
            if left_out and rel not in self.included:
                continue
            if self._dir_ignored(rel_dir) or self._ignored(rel, _changed_ns(entry)):
                continue
            if rel in self.outputs and rel not in self.included:
                self._left_out_output(entry, rel)
                continue
            self._untracked(entry, rel)

    def _submodule(self, rel: bytes, record: IndexRecord) -> None:
        """A submodule is recorded as git add -A records it: the commit its HEAD is at
        (the index's commit when it is not checked out).  Changes in its work tree are
        not in that commit: the run says so (snapshot.json, a warning)."""
        from gitexp.git.submodules import submodule_dirty, submodule_head  # rare: imported here

        self.seen.add(rel)
        abspath = os.path.join(self.root, rel).decode("utf-8", "surrogateescape")
        head = submodule_head(abspath)
        if head is None:
            self.snap.files.append((rel, S_IFGITLINK, record.sha))
            return
        self.snap.files.append((rel, S_IFGITLINK, head))
        if head != record.sha:
            self.snap.modified.append(_show(rel))
        dirty = submodule_dirty(abspath)
        self.snap.submodules.append({"path": _show(rel), "commit": head.decode(), "dirty": dirty})
        if dirty:
            self.snap.warnings.append(
                f"submodule {_show(rel)} has uncommitted changes: the run records its "
                f"commit {head[:7].decode()} only (commit them in the submodule to keep them)"
            )

    def _holds_kept(self, rel_dir: bytes) -> bool:
        """Whether a left-out folder still holds something to keep (tracked or included)."""
        return rel_dir in self.tracked_dirs or rel_dir in self.include_dirs

    def _left_out_output(self, entry: os.DirEntry[bytes], rel: bytes) -> None:
        try:
            size: int | None = entry.stat(follow_symlinks=False).st_size
        except OSError:
            size = None
        self.snap.skipped.append(SkippedFile(_show(rel), OUTPUT, size))

    def _folder_left_out(self, rel: bytes) -> str | None:
        """Why a folder's untracked content is no code: an --out path or a tool's
        output folder (record/notcode.py); None for a folder to snapshot."""
        if rel in self.included:
            return None  # --include keeps a folder as code, whatever it holds
        if rel in self.outputs:
            return OUTPUT
        return tool_output(self.root, rel)

    def _dir_ignored(self, rel_dir: bytes, changed_ns: int | None = None) -> bool:
        """Whether ignore rules exclude everything untracked in ``rel_dir`` (a folder git
        would not enter).  Asked only when an untracked entry turns up: most folders
        hold tracked files only, and each ignore check costs ~0.2 ms in dulwich."""
        if not rel_dir:
            return False
        known = self.ignored_dirs.get(rel_dir)
        if known is None:
            parent = rel_dir.rpartition(b"/")[0]
            shown = rel_dir.decode("utf-8", "surrogateescape") + "/"
            known = self._dir_ignored(parent) or self.repo.may_prune(shown, changed_ns)
            self.ignored_dirs[rel_dir] = known
        return known

    def _enter(self, rel: bytes, entry: os.DirEntry[bytes], left_out: bool = False) -> None:
        if left_out:  # inside a left-out folder: only what is tracked or included
            if self._holds_kept(rel):
                self.walk(rel, True)
            return
        tracked = rel in self.tracked_dirs
        if not tracked:
            if self._dir_ignored(rel, _changed_ns(entry)):
                return
            abspath = os.path.join(self.root, rel)
            if os.path.lexists(os.path.join(abspath, b".git")):
                self.snap.skipped.append(SkippedFile(_show(rel), "nested-repository"))
                return
        reason = self._folder_left_out(rel)
        if reason is None or (tracked and self._dir_ignored(rel)):
            self.walk(rel)  # (an ignored folder with tracked files: nothing is left out)
            return
        self.snap.skipped.append(SkippedFile(_show(rel), reason))
        if self._holds_kept(rel):
            self.walk(rel, True)

    def _ignored(self, rel: bytes, changed_ns: int | None) -> bool:
        return self.repo.is_ignored(rel.decode("utf-8", "surrogateescape"), changed_ns)

    def _tracked(self, entry: os.DirEntry[bytes], rel: bytes, record: IndexRecord) -> None:
        self.seen.add(rel)
        if record.trust_index:
            self.snap.files.append((rel, record.mode, record.sha))
            return
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            self.seen.discard(rel)  # deleted while we looked: recorded as deleted below
            return
        mode = _file_mode(st)
        if mode is None:
            self.snap.skipped.append(SkippedFile(_show(rel), "special"))
            return
        unchanged = record.mode in (mode, S_IFGITLINK) and _same_stat(record, st, self.racy_cutoff)
        if unchanged:
            self.snap.files.append((rel, record.mode, record.sha))
            return
        try:
            data = _read(entry.path, mode)
        except FileNotFoundError:
            self.seen.discard(rel)  # deleted while we looked: recorded as deleted below
            return
        except OSError as exc:
            self.snap.warnings.append(
                f"could not read tracked file {_show(rel)} ({exc.strerror}); "
                "recorded its staged version instead"
            )
            self.snap.files.append((rel, record.mode, record.sha))
            return
        sha = self.repo.write_blob(data, rel if mode != MODE_LINK else None)
        if sha != record.sha or mode != record.mode:
            self.snap.modified.append(_show(rel))
            if looks_secret(_show(rel)):
                self.tracked_secrets.append(_show(rel))
        self.snap.files.append((rel, mode, sha))

    def _untracked(self, entry: os.DirEntry[bytes], rel: bytes) -> None:
        shown = _show(rel)
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        mode = _file_mode(st)
        if mode is None:
            self.snap.skipped.append(SkippedFile(shown, "special"))
            return
        explicitly = shown in self.include
        if not explicitly and looks_secret(shown):
            self._secret(shown, st.st_size, "it looks like a secret")
            return
        if mode != MODE_LINK and st.st_size > self.size_limit and not explicitly:
            self.snap.skipped.append(
                SkippedFile(shown, "too-large", st.st_size, mtime_ns=st.st_mtime_ns)
            )
            return
        check_binary = mode != MODE_LINK and st.st_size > self.binary_limit and not explicitly
        try:
            data = read_unless_binary(entry.path) if check_binary else _read(entry.path, mode)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.snap.skipped.append(SkippedFile(shown, "unreadable", st.st_size))
            self.snap.warnings.append(f"left out {shown}: {exc.strerror}")
            return
        if data is None:
            self.snap.skipped.append(SkippedFile(shown, BINARY, st.st_size))
            return
        why = holds_secret(shown, data) if mode != MODE_LINK and not explicitly else None
        if why is not None:
            self._secret(shown, st.st_size, why)
            return
        blob = self.repo.write_blob(data, rel if mode != MODE_LINK else None)
        self.snap.files.append((rel, mode, blob))
        self.snap.untracked.append(shown)

    def _secret(self, shown: str, size: int, why: str) -> None:
        self.snap.skipped.append(SkippedFile(shown, "secret", size))
        self.snap.warnings.append(f"left out {shown}: {why} (include it with --include {shown})")


def _changed_ns(entry: os.DirEntry[bytes]) -> int | None:
    """When an entry last changed (its ctime), for ignore answers listed before the walk."""
    try:
        return entry.stat(follow_symlinks=False).st_ctime_ns
    except OSError:
        return None


def _unchanged(entry: os.DirEntry[bytes], record: IndexRecord, racy_cutoff: int) -> bool:
    """Whether a tracked file is certainly as the index has it: git's stat check (size,
    times, inode, mode; not modified in the index's own second).  False also means
    "look closer" (a gitlink, a trusted sparse entry, a file that cannot be stat'ed)."""
    if record.trust_index or record.mode == S_IFGITLINK:
        return False
    try:
        st = entry.stat(follow_symlinks=False)  # cached by the entry for a closer look
    except OSError:
        return False
    return record.mode == _file_mode(st) and _same_stat(record, st, racy_cutoff)


def _same_stat(record: IndexRecord, st: os.stat_result, racy_cutoff: int) -> bool:
    """git's stat check: size, times and inode as the index has them, and not modified
    in the index's own second (racy git)."""
    return (
        record.size == st.st_size
        and record.mtime_ns == st.st_mtime_ns
        and record.ctime_ns == st.st_ctime_ns
        and (record.ino == st.st_ino or not record.ino)
        and st.st_mtime_ns < racy_cutoff
    )


def _ancestor_dirs(paths: Iterable[bytes]) -> set[bytes]:
    dirs: set[bytes] = set()
    for path in paths:
        parent = path.rpartition(b"/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition(b"/")[0]
    return dirs


def _normal(path: str) -> str:
    path = path.replace(os.sep, "/").rstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _show(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")


def take_snapshot(
    repo: GitRepo, include: frozenset[str] = frozenset(), outputs: frozenset[str] = frozenset()
) -> Snapshot:
    """Snapshot the work tree of ``repo``.

    ``include``: paths to keep as code whatever the rules say (secret-looking, too large,
    binary, an output folder).  ``outputs``: paths (from the repository root, "/"
    separated) the run writes (``--out``): their untracked content is left out, and no
    object is written for it.
    """
    walker = _Walker(repo, include, outputs)
    walker.walk(b"")
    snap = walker.snap
    if walker.tracked_secrets:
        cache = os.path.join(repo.commondir, "gitexp", "cache", "tracked-secrets.json")
        snap.warnings += tracked_secret_warnings(cache, walker.tracked_secrets)
    for path in walker.index.keys() - walker.seen:
        record = walker.index[path]
        if record.trust_index:  # sparse checkout: absent from disk on purpose
            snap.files.append((path, record.mode, record.sha))
        else:
            snap.deleted.append(_show(path))
    snap.files.sort()
    snap.modified.sort()
    snap.deleted.sort()
    snap.untracked.sort()
    return snap


def fill_skipped_hashes(root: str, skipped: list[SkippedFile]) -> None:
    """MD5 (DVC's hash) of each too-large file, unless it changed since the snapshot.

    Slow for big files, so the recorder calls it off the start-up path.  The MD5 is
    remembered for the file's artifact (artifacts/dvc.py), which then does not hash
    the same unchanged file again.
    """
    from gitexp.artifacts.hashing import remembered_md5

    for item in skipped:
        if item.reason != "too-large" or item.md5 is not None:
            continue
        if item.size is not None and item.size > MD5_MAX_BYTES:
            continue  # hours of hashing at the end of a run; offloading hashes it anyway
        try:
            md5, st = remembered_md5(os.path.join(root, item.path))
        except OSError:
            continue
        if st.st_mtime_ns != item.mtime_ns:
            continue  # rewritten during the run: the hash would describe another file
        item.md5 = md5
