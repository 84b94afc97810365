"""The only module that imports DVC: the artifact cache, remotes and hashes.

gitexp keeps large files where DVC keeps them, in DVC's own content-addressed layout
(``.dvc/cache/files/md5/ab/cdef...``, folders as ``<md5>.dir`` manifests), and moves
them with DVC's data layer (dvc-data), so ``dvc pull`` understands what gitexp pushed.

DVC is imported inside the methods, never at module import: ``import gitexp`` and
``gitexp.log`` must not pay for it.  Above this layer everything is plain types:
objects are DVC object ids (``"<md5>"`` or ``"<md5>.dir"``), paths are local strings.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from gitexp.artifacts.digest import DIR_SUFFIX, Digest, Outcome, TreeEntry
from gitexp.artifacts.dvclog import collect_messages, transfer_bars
from gitexp.artifacts.filecopy import kernel_copy
from gitexp.artifacts.hashing import file_identity, file_md5, recall_md5
from gitexp.artifacts.plugins import dvc_unavailable_error, require_plugin
from gitexp.errors import RepositoryStateError

_CHUNK = 1 << 20


def has_project(root: str) -> bool:
    """Whether ``root`` holds a DVC project (a ``.dvc`` folder, as ``dvc init`` makes)."""
    return os.path.isdir(os.path.join(root, ".dvc"))


def no_project_error(root: str) -> RepositoryStateError:
    return RepositoryStateError(
        f"{root} has no DVC project: gitexp keeps artifacts in DVC's cache and remotes",
        "Set DVC up once and commit it: `dvc init && dvc remote add -d storage "
        "s3://bucket/path && git commit -m 'Set up DVC' .dvc .dvcignore` "
        "(docs/sharing.md).",
    )


def _import_dvc() -> Any:
    """DVC's ``Repo`` class, with its data layer imported too, or a clear error.

    Every use of DVC goes through :class:`ArtifactStore`, so once this succeeds the other
    imports in this module find their modules loaded.  Any exception counts: a DVC that
    does not match its dependencies fails with AttributeError or TypeError as often as
    with ImportError, and these few import lines are no gitexp code to hide a bug in.
    """
    try:
        import dvc_data.hashfile.build  # noqa: F401
        import dvc_objects.fs.system  # noqa: F401
        from dvc.repo import Repo
    except Exception as exc:
        raise dvc_unavailable_error(f"{type(exc).__name__}: {exc}") from None
    return Repo


# -- importing DVC ahead of time -------------------------------------------------------------

_preloading: threading.Thread | None = None


def preload() -> None:
    """Import DVC in a background thread, ahead of a later :class:`ArtifactStore`.

    For a process that will record artifacts and meanwhile mostly waits (``gitexp run``):
    the import (0.2-0.6 s) then overlaps the run and the large-file hashing.
    """
    global _preloading
    if _preloading is not None:
        return

    def work() -> None:
        with contextlib.suppress(Exception):  # ArtifactStore imports again and reports
            import dvc.repo  # noqa: F401
            import dvc_data.hashfile.build  # noqa: F401
            import dvc_objects.fs.system  # noqa: F401

    _preloading = threading.Thread(target=work, name="gitexp-dvc-import", daemon=True)
    _preloading.start()


def _wait_for_preload() -> None:
    if _preloading is not None:
        _preloading.join()


class ArtifactStore:
    """A DVC project's cache and remotes, as gitexp uses them.

    ``show_progress``: let DVC draw its transfer bars (it still draws them only on a
    terminal).
    """

    def __init__(self, root: str, show_progress: bool = False) -> None:
        if not has_project(root):
            raise no_project_error(root)
        _wait_for_preload()  # never two threads importing DVC's modules at once
        repo_class = _import_dvc()

        self.root = root
        self.show_progress = show_progress
        self._repo: Any = repo_class(root, uninitialized=False)

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the local cache -------------------------------------------------------------

    @property
    def cache_path(self) -> str:
        return str(self._repo.cache.local.path)

    def add(self, path: str) -> Digest:
        """Copy a file or folder into the cache (unchanged in the work tree); its digest."""
        from dvc_data.hashfile.build import build
        from dvc_data.hashfile.transfer import transfer
        from dvc_objects.fs.local import LocalFileSystem

        odb = self._repo.cache.local
        path = os.path.abspath(path)
        try:
            st: os.stat_result | None = os.lstat(path)
        except OSError:
            st = None  # DVC's build says why
        if st is not None and stat.S_ISREG(st.st_mode) and odb.hash_name == "md5":
            return self._add_file(odb, path, st)  # folders and links: DVC's own way
        messages: list[str] = []
        with collect_messages(messages):
            local = LocalFileSystem()  # type: ignore[no-untyped-call]
            staging, meta, obj = build(odb, path, local, "md5")
            result = transfer(staging, odb, {obj.hash_info}, shallow=False, hardlink=False)
        if result.failed:
            raise OSError(f"could not copy {path} into the DVC cache: {'; '.join(messages)}")
        md5 = str(obj.hash_info.value)
        if md5.endswith(DIR_SUFFIX):
            return Digest(md5, int(meta.size or 0), int(meta.nfiles or 0))
        return Digest(md5, int(meta.size or 0), isexec=bool(meta.isexec))

    def _add_file(self, odb: Any, path: str, st: os.stat_result) -> Digest:
        """One file into the cache as dvc-data's ``build`` and ``transfer`` would put it
        (``<cache>/files/md5/ab/cdef...``, read-only, DVC's folder modes, its state
        database told), hashed at most once and copied by the kernel.

        The MD5 is the one :func:`remembered_md5` computed for this unchanged file, else
        computed while another thread copies the file to a temporary name in the cache;
        the copy is renamed into place once the hash names it.  A file that changed while
        it was read is described by its copy, hashed again.
        """
        from dvc_objects.fs.local import LocalFileSystem

        local = LocalFileSystem()  # type: ignore[no-untyped-call]
        info: dict[str, Any] | None = _file_info(path, st)
        size, isexec = st.st_size, bool(st.st_mode & 0o111)
        md5 = recall_md5(st)
        if md5 is not None and odb.exists(md5):
            dest = odb.oid_to_path(md5)
        else:
            odb.makedirs(odb.path)
            tmp = os.path.join(odb.path, f".gitexp-{os.getpid()}-{secrets.token_hex(8)}.tmp")
            try:
                if md5 is None:
                    md5 = _copy_hashing(path, tmp)
                else:
                    _copy(path, tmp)
                if file_identity(os.stat(path)) != file_identity(st):
                    # changed while read: the artifact is what was read, the copy
                    md5, info, size = file_md5(tmp), None, os.stat(tmp).st_size
                elif os.stat(tmp).st_size != size:
                    raise OSError(errno.EIO, "the copy came out short")
                dest = odb.oid_to_path(md5)
                if os.path.exists(dest):  # stored already: DVC never rewrites an object
                    os.unlink(tmp)
                else:
                    odb.makedirs(os.path.dirname(dest))
                    os.chmod(tmp, odb.CACHE_MODE)
                    os.replace(tmp, dest)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise OSError(f"could not copy {path} into the DVC cache: {exc}") from exc
        odb.protect(dest)
        _save_state(odb, local, [(dest, md5, None)] + ([(path, md5, info)] if info else []))
        return Digest(md5, size, isexec=isexec)

    def in_cache(self, oids: Iterable[str]) -> set[str]:
        """The objects of ``oids`` the local cache holds."""
        odb = self._repo.cache.local
        return {oid for oid in oids if odb.exists(oid)}

    def cache_file(self, oid: str) -> str:
        return str(self._repo.cache.local.oid_to_path(oid))

    def tree(self, md5: str, remote: str | None = None) -> list[TreeEntry] | None:
        """A folder's files from its ``.dir`` manifest: the cache's, else the remote's."""
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.tree import Tree

        hash_info = HashInfo("md5", md5)
        places = [self._repo.cache.local]
        with contextlib.suppress(Exception):
            places.append(self._remote_odb(remote))
        for odb in places:
            try:
                loaded = Tree.load(odb, hash_info)
            except Exception:
                continue
            return [
                TreeEntry("/".join(key), str(entry_hash.value), bool(meta and meta.isexec))
                for key, meta, entry_hash in loaded
            ]
        return None

    def objects(self, digests: Iterable[Digest], remote: str | None = None) -> dict[str, set[str]]:
        """Every object each digest needs (a folder: its manifest and its files).

        A folder whose manifest is neither cached nor on the remote maps to its manifest
        only: the caller reports it, a transfer then fails for it.
        """
        out: dict[str, set[str]] = {}
        for digest in digests:
            needed = {digest.md5}
            if digest.isdir:
                entries = self.tree(digest.md5, remote)
                needed.update(entry.md5 for entry in entries or [])
            out[digest.md5] = needed
        return out

    def checkout(self, digest: Digest, dest: str, remote: str | None = None) -> None:
        """Write a file or folder from the cache to ``dest``, checking every hash.

        Each file is copied to a temporary name next to its place, hashed while copied,
        and renamed into place only when its MD5 is the recorded one.
        """
        if not digest.isdir:
            self._checkout_file(digest.md5, dest, digest.isexec)
            return
        entries = self.tree(digest.md5, remote)
        if entries is None:
            raise OSError(f"the folder manifest {digest.md5} is not in the cache")
        if os.path.lexists(dest) and not os.path.isdir(dest):
            os.unlink(dest)
        for entry in entries:
            parts = entry.relpath.split("/")
            if any(part in ("", ".", "..", ".git") for part in parts):
                raise OSError(f"unsafe path {entry.relpath!r} in folder manifest {digest.md5}")
            self._checkout_file(entry.md5, os.path.join(dest, *parts), entry.isexec)

    def _checkout_file(self, md5: str, dest: str, isexec: bool) -> None:
        source = self.cache_file(md5)
        folder = os.path.dirname(dest) or "."
        os.makedirs(folder, exist_ok=True)
        if os.path.isdir(dest) and not os.path.islink(dest):
            shutil.rmtree(dest)
        tmp = os.path.join(folder, f".gitexp-artifact-{os.getpid()}.tmp")
        digest = hashlib.md5(usedforsecurity=False)
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != md5:
            os.unlink(tmp)
            raise OSError(
                f"the cached copy of {md5} is damaged (its MD5 is {digest.hexdigest()}); "
                f"delete {source} and fetch it again"
            )
        os.chmod(tmp, 0o755 if isexec else 0o644)
        os.replace(tmp, dest)

    # -- remotes ---------------------------------------------------------------------

    def remote_name(self, name: str | None = None) -> str:
        """The DVC remote to use: ``name``, else the project's default (``dvc remote -d``)."""
        chosen = name or self._repo.config["core"].get("remote")
        if not chosen:
            raise RepositoryStateError(
                "this DVC project has no default remote to keep artifacts in",
                "Add one and commit it: `dvc remote add -d storage s3://bucket/path` "
                "(or a shared folder), then `git commit .dvc/config` (docs/sharing.md).",
            )
        if chosen not in self._repo.config["remote"]:
            raise RepositoryStateError(
                f"there is no DVC remote named {chosen!r}",
                "See the remotes with `dvc remote list`.",
            )
        require_plugin(str(chosen), str(self._repo.config["remote"][chosen].get("url", "")))
        return str(chosen)

    def remotes(self) -> tuple[str | None, dict[str, str]]:
        """The default remote's name (None when unset) and every remote's URL by name."""
        config = self._repo.config
        urls = {str(name): str(conf.get("url", "")) for name, conf in config["remote"].items()}
        default = config["core"].get("remote")
        return (str(default) if default else None), urls

    def remote_url(self, name: str | None = None) -> str:
        chosen = self.remote_name(name)
        return str(self._repo.config["remote"][chosen].get("url", ""))

    def _remote_odb(self, name: str | None) -> Any:
        return self._repo.cloud.get_remote_odb(self.remote_name(name), "push")

    def push(self, oids: set[str], remote: str | None = None) -> Outcome:
        """Upload objects the remote lacks; objects neither side has are ``missing``."""
        return self._transfer(oids, remote, upload=True)

    def fetch(self, oids: set[str], remote: str | None = None) -> Outcome:
        """Download objects the cache lacks from the remote."""
        return self._transfer(oids, remote, upload=False)

    def _transfer(self, oids: set[str], remote: str | None, upload: bool) -> Outcome:
        from dvc_data.hashfile.hash_info import HashInfo

        outcome = Outcome()
        if not oids:
            return outcome
        name = self.remote_name(remote)
        infos = {HashInfo("md5", oid) for oid in oids}
        cloud = self._repo.cloud
        with collect_messages(outcome.messages), transfer_bars(self.show_progress):
            try:
                status = cloud.status(infos, remote=name)
                local_only = {str(h.value) for h in status.new}
                remote_only = {str(h.value) for h in status.deleted}
                both = {str(h.value) for h in status.ok}
                outcome.missing = {str(h.value) for h in status.missing}
                wanted = local_only if upload else remote_only
                outcome.present = both | (remote_only if upload else local_only)
                if wanted:
                    move = cloud.push if upload else cloud.pull
                    result = move({HashInfo("md5", oid) for oid in wanted}, remote=name)
                    outcome.failed = {str(h.value) for h in result.failed}
                    outcome.moved = wanted - outcome.failed
            except Exception as exc:  # credentials, network, a missing bucket: all fail
                outcome.messages.append(_describe(exc))
                outcome.failed = set(oids) - outcome.present - outcome.moved
        return outcome

    # -- garbage collection ------------------------------------------------------------

    def used_by_dvc(self) -> set[str]:
        """Objects DVC itself uses: the work tree and every commit of branches, tags and
        remote-tracking refs (what ``dvc gc --all-commits --workspace`` keeps)."""
        used: set[str] = set()
        messages: list[str] = []
        with collect_messages(messages):
            for _odb, infos in self._repo.used_objs(
                all_branches=True, all_tags=True, all_commits=True, force=True
            ).items():
                used.update(str(h.value) for h in infos if h.value)
        return used

    def list_objects(
        self, remote: str | None = None, advance: Callable[[int], None] | None = None
    ) -> dict[str, float | None]:
        """Every object in the cache (or a remote) with its modification time, if known.

        ``advance(1)`` after each object's time is read: one request each on a remote.
        """
        odb = self._repo.cache.local if remote is None else self._remote_odb(remote)
        out: dict[str, float | None] = {}
        for oid in odb.all():
            out[str(oid)] = None
        for oid in out:
            with contextlib.suppress(Exception):
                out[oid] = _mtime(odb.fs.info(odb.oid_to_path(oid)))
            if advance is not None:
                advance(1)
        return out

    def remove_objects(self, oids: Iterable[str], remote: str | None = None) -> None:
        from dvc_data.hashfile.db import get_index

        odb = self._repo.cache.local if remote is None else self._remote_odb(remote)
        paths = [odb.oid_to_path(oid) for oid in oids]
        if not paths:
            return
        odb.fs.remove(paths)
        if remote is not None:
            get_index(odb).clear()  # DVC's index of the remote would list them still


def _copy_hashing(source: str, dest: str) -> str:
    """Copy ``source`` to ``dest`` in a thread while hashing it here; the MD5."""
    failed: list[BaseException] = []

    def copy() -> None:
        try:
            _copy(source, dest)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=copy, name="gitexp-artifact-copy", daemon=True)
    thread.start()
    try:
        md5 = file_md5(source)
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return md5


def _copy(source: str, dest: str) -> None:
    """Copy a file's bytes as DVC does (a reflink where the filesystem can, else a copy),
    but in the kernel (``copy_file_range``, else ``sendfile``), not in a Python loop."""
    from dvc_objects.fs.system import reflink

    try:
        reflink(source, dest)  # type: ignore[no-untyped-call]
        return
    except OSError:
        pass
    if hasattr(os, "copy_file_range") and kernel_copy(source, dest):
        return
    shutil.copyfile(source, dest)  # sendfile where it can


def _file_info(path: str, st: os.stat_result) -> dict[str, Any]:
    """What DVC's local filesystem says of a regular file (``fs.info``), from ``st``."""
    return {
        "name": path,
        "size": st.st_size,
        "type": "file",
        "created": st.st_ctime,
        "islink": False,
        "mode": st.st_mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": st.st_mtime,
        "ino": st.st_ino,
        "nlink": st.st_nlink,
    }


def _save_state(odb: Any, fs: Any, items: list[tuple[str, str, dict[str, Any] | None]]) -> None:
    """Tell DVC's state database the hashes, as its ``build`` and ``add`` do (a cache of
    hashes by inode, size and time: ``dvc status`` need not hash the files again)."""
    from dvc_data.hashfile.hash_info import HashInfo

    with contextlib.suppress(Exception):  # a cache: never worth failing the artifact
        odb.state.save_many([(path, HashInfo("md5", md5), info) for path, md5, info in items], fs)


def _mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        stamp = getattr(value, "timestamp", None)
        if callable(stamp):
            return float(stamp())
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 300 else text


def age_seconds(mtime: float | None) -> float | None:
    return None if mtime is None else max(0.0, time.time() - mtime)
