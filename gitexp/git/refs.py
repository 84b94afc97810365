"""Refs: reading, compare-and-swap updates under git's locks, listing, reflogs.

Run refs (``refs/gitexp/``) of an ordinary layout are read and written here directly
(files.py), so the run path needs none of dulwich's ref modules; every other ref, and
every unusual layout, goes through dulwich's ref container.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable

from gitexp.git import files as gitfiles
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from dulwich.objects import ObjectID
    from dulwich.refs import DiskRefsContainer, Ref, RefsContainer
    from dulwich.repo import Repo

ObjectId = bytes  # 40 hex digits, as dulwich uses them
ZERO_ID = b"0" * 40
# A lock on a gitexp ref this old was left by a killed process (see _locked_ref_update).
STALE_REF_LOCK_SECONDS = 60.0


def as_object_id(sha: bytes) -> ObjectID:
    return cast("ObjectID", sha)  # dulwich's NewType over bytes: the same object


def as_ref(name: bytes) -> Ref:
    return cast("Ref", name)


class RefOps:
    """The ref half of :class:`gitexp.git.repo.GitRepo` (a mixin: it reads the fields below)."""

    controldir: str
    commondir: str
    _direct: bool  # an ordinary layout: run refs and objects read without dulwich
    _refs_container: DiskRefsContainer | None

    @property
    def _repo(self) -> Repo:
        raise NotImplementedError

    def identity(self, role: str = "author") -> bytes:
        raise NotImplementedError

    def config_value(self, section: str, name: str) -> str | None:
        raise NotImplementedError

    @property
    def _refs(self) -> RefsContainer:
        """dulwich's ref writer (locks, packed refs, reflogs), without opening a Repo."""
        if not self._direct:
            return self._repo.refs
        if self._refs_container is None:
            from dulwich.refs import DiskRefsContainer

            self._refs_container = DiskRefsContainer(
                self.commondir, self.controldir, logger=self._write_reflog
            )
        return self._refs_container

    def _write_reflog(
        self,
        ref: bytes,
        old_sha: bytes,
        new_sha: bytes,
        committer: bytes | None,
        timestamp: int | None,
        timezone: int | None,
        message: bytes,
    ) -> None:
        """Append a reflog line as dulwich's Repo does (the logger its refs call)."""
        base = self.controldir if gitfiles.per_worktree(ref) else self.commondir
        path = os.path.join(base, "logs", os.fsdecode(ref))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        when = int(time.time()) if timestamp is None else timestamp
        line = gitfiles.reflog_line(
            old_sha, new_sha, committer or self.identity("committer"), when, message
        )
        with open(path, "ab") as handle:
            handle.write(line)

    # -- refs ------------------------------------------------------------------------

    def first_reflog_message(self, name: bytes) -> str | None:
        """The message of the oldest reflog entry of ``name`` (None: no reflog).

        The reflog is this clone's own history of the ref, never fetched or pushed: it
        tells how a ref began here (gitexp writes ``gitexp: started`` when it records a
        run, ``gitexp: fetched run`` when a run arrives from a remote).
        """
        first = self._first_reflog_line(name)
        _, tab, message = first.partition(b"\t")
        return message.strip().decode("utf-8", "replace") if tab else None

    def first_reflog_time(self, name: bytes) -> float | None:
        """When ``name`` first appeared in this clone, by its reflog (None: no reflog)."""
        header = self._first_reflog_line(name).partition(b"\t")[0].split()
        try:
            return float(header[-2]) if len(header) >= 2 else None
        except ValueError:
            return None

    def _first_reflog_line(self, name: bytes) -> bytes:
        path = os.path.join(os.fsencode(self.commondir), b"logs", name)
        try:
            with open(path, "rb") as handle:
                return handle.readline()
        except OSError:
            return b""

    def read_ref(self, name: bytes) -> ObjectId | None:
        if self._direct:
            with contextlib.suppress(gitfiles.Unanswered):
                return gitfiles.read_ref(self.controldir, self.commondir, name, valid_ref_tail)
        try:
            return self._refs[as_ref(name)]
        except KeyError:
            return None

    def create_ref(self, name: bytes, sha: ObjectId, message: bytes) -> bool:
        """Create ``name`` only if it does not exist yet (run ids never clobber)."""
        # dulwich makes missing reflog folders with a bare mkdir: two processes creating
        # their first runs at once (DDP ranks, a parallel sweep) would collide on it.
        logs = os.path.join(os.fsencode(self.commondir), b"logs", os.path.dirname(name))
        with contextlib.suppress(OSError):
            os.makedirs(logs, exist_ok=True)
        if self._direct and name.startswith(b"refs/gitexp/"):
            with contextlib.suppress(gitfiles.Unanswered):
                return self._own_ref_update(name, None, sha, message)
        return self._locked_ref_update(
            name,
            lambda: _locked(
                lambda: self._refs.add_if_new(as_ref(name), as_object_id(sha), message=message)
            ),
        )

    def move_ref(self, name: bytes, old: ObjectId, new: ObjectId, message: bytes) -> bool:
        """Compare-and-swap: point ``name`` at ``new`` only if it still points at ``old``."""
        if self._direct and name.startswith(b"refs/gitexp/"):
            with contextlib.suppress(gitfiles.Unanswered):
                return self._own_ref_update(name, old, new, message)
        return self._locked_ref_update(
            name,
            lambda: _locked(
                lambda: self._refs.set_if_equals(
                    as_ref(name), as_object_id(old), as_object_id(new), message=message
                )
            ),
        )

    def _own_ref_update(
        self, name: bytes, old: ObjectId | None, new: ObjectId, message: bytes
    ) -> bool:
        """A run ref's compare-and-swap written here (gitfiles), reflog included: the run
        path then needs none of dulwich's ref, object and file modules."""

        def update() -> bool:
            sync = gitfiles.refs_synced(self.config_value("core", "fsync"))
            if not gitfiles.update_ref(self.commondir, name, new, old, valid_ref_tail, sync):
                return False
            with contextlib.suppress(OSError):  # a reflog is history, never the run itself
                self._write_reflog(name, old or ZERO_ID, new, None, None, None, message)
            return True

        return self._locked_ref_update(name, update)

    def delete_ref(self, name: bytes, old: ObjectId) -> bool:
        return self._locked_ref_update(
            name,
            lambda: _locked(lambda: self._refs.remove_if_equals(as_ref(name), as_object_id(old))),
        )

    def _locked_ref_update(self, name: bytes, update: Callable[[], object]) -> bool:
        """Run a ref update; False when another writer holds the ref's lock.

        Like git (``core.filesRefLockTimeout``), a held lock is retried for 100 ms.  A
        lock on a gitexp ref older than ``STALE_REF_LOCK_SECONDS`` was left by a process
        killed mid-update (gitexp holds such locks for milliseconds), so it is removed;
        otherwise the run it guards could never be finalized, and other refs never
        updated.  Every other lock is git's rule: a refusal, never an exception.
        """
        deadline = time.monotonic() + 0.1
        while True:
            try:
                return bool(update())
            except gitfiles.RefLocked:
                if self._break_stale_ref_lock(name):
                    continue
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)

    def _break_stale_ref_lock(self, name: bytes) -> bool:
        if not name.startswith(b"refs/gitexp/"):
            return False
        lock = os.path.join(os.fsencode(self.commondir), name) + b".lock"
        try:
            if time.time() - os.stat(lock).st_mtime < STALE_REF_LOCK_SECONDS:
                return False
            os.unlink(lock)
        except FileNotFoundError:
            return True  # released meanwhile: try again
        except OSError:
            return False
        return True

    def _follow_symref(self, name: bytes) -> ObjectId | None:
        """What a symbolic ref finally points at, as dulwich resolves it (None: nothing)."""
        from dulwich.refs import SymrefLoop

        try:
            return bytes(self._refs[as_ref(name)])
        except (SymrefLoop, KeyError):
            return None

    def ref_names(self, prefix: bytes) -> set[bytes]:
        """Names of the refs under ``prefix`` (after it), without reading what they hold."""
        if self._direct:
            with contextlib.suppress(gitfiles.Unanswered):
                return gitfiles.ref_names(self.commondir, prefix, valid_ref_tail)
        return set(self.list_refs(prefix))

    def list_refs(self, prefix: bytes) -> dict[bytes, ObjectId]:
        """Refs under ``prefix`` (loose and packed) by their name after the prefix."""
        base = self.commondir if self._direct else None
        if not self._direct:
            from dulwich.refs import DiskRefsContainer

            if type(self._refs) is DiskRefsContainer:
                base = os.fsdecode(self._refs.path)
        if base is not None:
            with contextlib.suppress(gitfiles.Unanswered):
                return gitfiles.list_refs(base, prefix, valid_ref_tail, self._follow_symref)
        return {bytes(k): bytes(v) for k, v in self._refs.as_dict(as_ref(prefix)).items()}

    def remote_refs_stamp(self) -> str:
        """What changes whenever a fetch changes a remote-tracking ref, read with a few
        stats: the mtimes of ``packed-refs``, ``FETCH_HEAD`` and each remote's
        ``refs/remotes/<remote>/gitexp/runs`` folder and artifact alias folders (a loose
        ref is written by renaming its lock file into its folder, which moves the folder's
        mtime)."""
        common = self.commondir
        paths = [os.path.join(common, "packed-refs"), os.path.join(self.controldir, "FETCH_HEAD")]
        remotes = os.path.join(common, "refs", "remotes")
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(remotes), key=lambda e: e.name):
                if entry.is_dir(follow_symlinks=False):
                    paths.append(os.path.join(entry.path, "gitexp", "runs"))
                    paths += _folders(os.path.join(entry.path, "gitexp", "aliases"))
        parts = []
        for path in paths:
            try:
                parts.append(str(os.stat(path).st_mtime_ns))
            except OSError:
                parts.append("-")
        return " ".join(parts)

    def valid_ref_name(self, name: bytes) -> bool:
        """Whether ``name`` (``refs/heads/x``) is a ref name git accepts."""
        from dulwich.refs import check_ref_format

        return bool(check_ref_format(as_ref(name)))

    def set_ref(self, name: bytes, sha: ObjectId, message: bytes) -> bool:
        """Point ``name`` at ``sha`` whatever it held: for mirrors of a remote's refs only."""
        return self._locked_ref_update(
            name,
            lambda: _locked(
                lambda: self._refs.set_if_equals(
                    as_ref(name), None, as_object_id(sha), message=message
                )
            ),
        )

    def remove_ref(self, name: bytes) -> bool:
        """Delete ``name`` whatever it held: for mirrors of a remote's refs only."""
        return self._locked_ref_update(
            name, lambda: _locked(lambda: self._refs.remove_if_equals(as_ref(name), None))
        )


# -- run refs read without dulwich's per-ref lookup (~200 ms for 10,000 loose refs) ----

_PLAIN_REF_TAIL = re.compile(rb"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")


def _folders(path: str) -> list[str]:
    """``path`` and the folders in it (an alias mirror is ``aliases/<name>/<alias>``)."""
    try:
        return [path, *sorted(e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False))]
    except OSError:
        return [path]


def valid_ref_tail(name: bytes) -> bool:
    """Whether git accepts ``name`` as a ref name (the common shapes without dulwich)."""
    if _PLAIN_REF_TAIL.fullmatch(name):
        return True
    from dulwich.refs import check_ref_format

    return bool(check_ref_format(as_ref(name)))


def _locked(update: Callable[[], object]) -> object:
    """Run one of dulwich's ref updates, its lock conflict raised as gitexp's."""
    from dulwich.file import FileLocked

    try:
        return update()
    except FileLocked:
        raise gitfiles.RefLocked() from None
