"""The live folder of a running run: ``<git common dir>/gitexp/live/<run-id>/``.

The training process appends its metrics and output here (cheap file appends, no git
work on the training thread); the recorder turns the folder into commits.  It lives
inside ``.git`` so it is never part of a snapshot, and it outlives a crash, so the next
gitexp command can finalize the run with everything that reached the disk.

Files: ``owner.json`` (who records: host, pid, process start), ``state.json`` (the
snapshot tree and what the command line fixed), ``run.json``, ``config.json``,
``history.jsonl``, ``summary.json``, ``script.json`` (what ``gitexp.init`` reported),
``output.log``, ``heartbeat``, ``files/`` (``run.dir``).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings

from gitexp.model import values
from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from gitexp.git.repo import GitRepo, ObjectId

STALE_HEARTBEAT_SECONDS = 120.0  # for recorders on another host sharing this .git


def live_root(commondir: str) -> str:
    return os.path.join(commondir, "gitexp", "live")


# Artifacts a run asked to keep, one JSON request per line (gitexp run --out,
# run.log_artifact); read by artifacts/record.py when the run ends.
ARTIFACT_REQUESTS = "artifacts.jsonl"
RUN_FILES = "files"  # run.dir: kept in the run under .gitexp/files/ (RunFiles below)


def hostname() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (without importing socket)."""
    return os.uname().nodename


def process_start(pid: int) -> str | None:
    """A token that changes when ``pid`` is reused by another process (Linux: start tick)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def pid_alive(pid: int, start: str | None) -> bool:
    """Whether ``pid`` still runs the same process (an unreaped zombie has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False
    if start is None:
        return True
    current = process_start(pid)
    return current is None or current == start


class LiveDir(Slotted):
    """A run's live folder (``<git dir>/gitexp/live/<run id>/``) and what is in it."""

    _fields = ("path",)
    __slots__ = _fields

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return os.path.basename(self.path)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def create(self) -> None:
        """Make the folder and name this process its owner at once.

        A folder without ``owner.json`` might belong to a recorder on another host, so it
        counts as alive until quiet for ``STALE_HEARTBEAT_SECONDS``: a recorder killed
        before naming itself would leave it behind that long.
        """
        os.makedirs(self.path)
        self.claim()

    def remove(self) -> None:
        """Remove the folder, ``owner.json`` last.

        A removal cut short (the recorder killed meanwhile) then leaves a folder whose
        owner is known to be gone, which the next command removes, never an ownerless one
        that looks alive for ``STALE_HEARTBEAT_SECONDS``.
        """
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for name in names:
            if name == "owner.json":
                continue
            path = os.path.join(self.path, name)
            if os.path.isdir(path) and not os.path.islink(path):
                _remove_tree(path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        with contextlib.suppress(OSError):
            os.unlink(self.file("owner.json"))
        try:
            os.rmdir(self.path)
        except OSError:  # something appeared meanwhile (a late file of the script)
            _remove_tree(self.path)

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def write_json(self, name: str, data: object) -> None:
        """Replace a small JSON file atomically (a reader never sees half of it)."""
        tmp = self.file(f".{name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(values.dumps(data))
        os.replace(tmp, self.file(name))

    def read_json(self, name: str) -> Any:  # the JSON boundary: callers check the shape
        try:
            with open(self.file(name), encoding="utf-8") as handle:
                return values.loads(handle.read())
        except (OSError, ValueError):
            return None

    def claim(self, child_pid: int | None = None, keeper_pid: int | None = None) -> None:
        """Record this process as the run's recorder (and the child it waits for, and the
        keeper that outlives it: record/keeper.py)."""
        owner: dict[str, object] = {
            "host": hostname(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
        }
        for role, pid in (("child", child_pid), ("keeper", keeper_pid)):
            if pid is not None:
                owner[f"{role}_pid"] = pid
                owner[f"{role}_start"] = process_start(pid)
        self.write_json("owner.json", owner)
        self.beat()

    def beat(self) -> None:
        with open(self.file("heartbeat"), "w") as handle:
            handle.write(str(time.time()))

    def recorder_alive(self) -> bool:
        """Whether the process recording this run still exists."""
        owner = self.read_json("owner.json")
        if not isinstance(owner, dict):
            return self._recent_heartbeat()
        if owner.get("host") != hostname():
            return self._recent_heartbeat()
        return pid_alive(int(owner.get("pid", 0)), owner.get("pid_start"))

    def child_alive(self) -> bool:
        """Whether the training process of a ``gitexp run`` outlived its recorder."""
        return self._helper_alive("child")

    def keeper_alive(self) -> bool:
        """Whether the keeper of a ``gitexp run`` (which finalizes the run once the command
        ends) outlived its recorder."""
        return self._helper_alive("keeper")

    def _helper_alive(self, role: str) -> bool:
        owner = self.read_json("owner.json")
        if not isinstance(owner, dict) or f"{role}_pid" not in owner:
            return False
        if owner.get("host") != hostname():
            return False
        return pid_alive(int(owner[f"{role}_pid"]), owner.get(f"{role}_start"))

    def _recent_heartbeat(self) -> bool:
        try:
            age = time.time() - os.stat(self.file("heartbeat")).st_mtime
        except OSError:
            try:
                age = time.time() - os.stat(self.path).st_mtime
            except OSError:
                return False
        return age < STALE_HEARTBEAT_SECONDS


def list_live(commondir: str) -> list[LiveDir]:
    root = live_root(commondir)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return [LiveDir(os.path.join(root, name)) for name in sorted(names)]


def recover_left_behind(repo: GitRepo) -> None:
    """Finalize the runs whose recorders died (record/keeper.py), importing the keeper
    only when a live folder exists: a script's init would pay ~1 ms for it otherwise."""
    if list_live(repo.commondir):
        from gitexp.record.keeper import recover_stale_runs

        recover_stale_runs(repo)


class RunFiles:
    """``run.dir``: the files a script writes into ``files/`` of its live folder (outside
    the workspace), carried by each checkpoint and the final commit under
    ``.gitexp/files/`` (docs/format.md).  A file is hashed again only when its size or
    modification time changed; one above the snapshot's size limit (``gitexp.maxFileSize``,
    10 MiB) stays out of git with one warning: large outputs are artifacts (DVC)."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[tuple[int, int], ObjectId]] = {}
        self.warned: set[str] = set()
        self.limit: int | None = None

    def entries(self, repo: GitRepo, saved: str, run_dir: str) -> list[tuple[bytes, int, ObjectId]]:
        """``(.gitexp-relative path, mode, blob)`` for each kept file: ``gitexp.save``'s
        copies (``saved``, where ``*.tmp`` is a copy still being written) and ``run.dir``,
        both under ``files/`` of the run.  A name in both is ``run.dir``'s; a file named
        as a folder of another file is left out (a tree cannot hold both)."""
        from gitexp.git.repo import MODE_FILE
        from gitexp.record.notcode import max_file_size

        found: dict[str, ObjectId] = {}
        for folder in (saved, run_dir):
            if not os.path.isdir(folder):
                continue
            if self.limit is None:
                self.limit = max_file_size(repo)
            for top, dirs, names in os.walk(folder):
                dirs.sort()
                for name in sorted(names):
                    if folder == saved and name.endswith(".tmp"):
                        continue
                    path = os.path.join(top, name)
                    rel = os.path.relpath(path, folder).replace(os.sep, "/")
                    sha = self._blob(repo, path, f"{folder}\0{rel}", rel)
                    if sha is not None:
                        found[rel] = sha
        folders = {rel.rsplit("/", 1)[0] for rel in found if "/" in rel}
        folders |= {f.rsplit("/", i)[0] for f in folders for i in range(1, f.count("/") + 1)}
        return [
            (f"{RUN_FILES}/{rel}".encode(), MODE_FILE, sha)
            for rel, sha in sorted(found.items())
            if rel not in folders
        ]

    def _blob(self, repo: GitRepo, path: str, cache_key: str, rel: str) -> ObjectId | None:
        try:
            st = os.lstat(path)
        except OSError:
            return None  # removed while we walked
        from gitexp.model.validate import check_path

        if not os.path.isfile(path) or os.path.islink(path) or check_path(rel):
            return None  # links and names git cannot hold are no files of the run
        if self.limit is not None and st.st_size > self.limit:
            if rel not in self.warned:
                self.warned.add(rel)
                warnings.warn(
                    f"gitexp: run.dir file {rel} ({st.st_size} bytes) is over the "
                    f"{self.limit}-byte limit and is not kept; keep it with "
                    "gitexp.log_artifact (DVC) instead",
                    stacklevel=2,
                )
            return None
        key = (st.st_size, st.st_mtime_ns)
        known = self.blobs.get(cache_key)
        if known is not None and known[0] == key:
            return known[1]
        try:
            with open(path, "rb") as handle:
                sha = repo.write_blob(handle.read())
        except OSError:
            return None
        self.blobs[cache_key] = (key, sha)
        return sha


def _remove_tree(path: str) -> None:
    """shutil.rmtree, imported only here: shutil imports bz2 and lzma (~1.5 ms), and a
    plain run's live folder holds no folder, so the end of most runs never needs it."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
