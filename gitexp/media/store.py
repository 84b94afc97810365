"""Media files of a run: written into the live folder by the script, committed by the recorder.

The script side (:class:`MediaSink`) writes each file once under
``<live folder>/media/<key>/<step>-<hash8>.<ext>``: named by the step it was logged at
and the first 8 hex digits of its SHA-256, so the same bytes logged again at that step
are one file, and a file, once there, never changes.  The recorder side
(:class:`MediaFiles`) turns that folder into tree entries under ``.gitexp/media/``; since
files never change, each is read and stored as a blob once per run, however many
checkpoints follow (docs/format.md, "media/").
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

from gitexp.model.history import MEDIA_DIR
from gitexp.model.record import META_DIR
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.git.repo import GitRepo, ObjectId

LIVE_MEDIA = "media"  # the folder of the live folder the script writes into
_MODE_FILE = 0o100644
_MODE_TREE = 0o040000
# What a key's folder name keeps: a key is the user's, a folder name must be portable.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def key_folder(key: str) -> str:
    """The folder (under the media folder) of a logged key: ``val/img`` -> ``val/img``.

    Each ``/``-part keeps letters, digits, ``.``, ``_`` and ``-`` (others become ``_``);
    a part that would be empty, ``.`` or ``..``, or start with a dot, gets a ``_`` first.
    """
    parts = []
    for part in key.split("/"):
        part = _UNSAFE.sub("_", part)[:100]
        if not part or part.startswith("."):
            part = "_" + part
        parts.append(part)
    return "/".join(parts)


class MediaSink:
    """Writes a run's media files into its live folder (the training process's side)."""

    def __init__(self, live_path: str) -> None:
        self.root = os.path.join(live_path, LIVE_MEDIA)

    def write(self, key: str, step: int, data: bytes, ext: str) -> dict[str, object]:
        """Store ``data`` for ``key`` at ``step``; the reference's path, sha256 and size."""
        import hashlib  # here: the recorder imports this module on every run, media or not

        digest = hashlib.sha256(data).hexdigest()
        rel = f"{key_folder(key)}/{step}-{digest[:8]}.{ext}"
        path = os.path.join(self.root, *rel.split("/"))
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # Whole or not at all: the recorder may read the folder at any moment, and
            # skips names starting with a dot.
            tmp = os.path.join(
                os.path.dirname(path), f".{os.getpid()}-{threading.get_ident()}.tmp"
            )  # one per thread: threads may log at once
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        return {"path": f"{MEDIA_DIR}/{rel}", "sha256": digest, "size": len(data)}


class MediaFiles:
    """The recorder's view of a run's media: tree entries under ``.gitexp/media/``.

    A file over the large-file threshold (``limit``: gitexp.maxFileSize, asked for once,
    when the first media file shows up) is left out of the checkpoints; when the run
    ends it goes to DVC's cache as an artifact of kind ``media``
    (:meth:`large_files`, artifacts/record.py), or, without a DVC project (or when the
    run crashed), into git after all: a picture is never lost for its size.
    """

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit_of = limit
        self._limit: int | None = None
        self._blobs: dict[str, ObjectId] = {}  # "media/<key>/<file>" -> blob
        self.in_dvc: set[str] = set()  # "media/<key>/<file>" recorded as DVC artifacts

    def _files(self, live_path: str) -> list[tuple[str, str, int]]:
        """(``media/...`` path, file, size) of each whole file not committed yet."""
        root = os.path.join(live_path, LIVE_MEDIA)
        found: list[tuple[str, str, int]] = []
        if not os.path.isdir(root):
            return found  # a run that logged no media: one failed stat
        for folder, _dirs, names in os.walk(root):
            for name in names:
                if name.startswith("."):
                    continue  # a file being written
                path = os.path.join(folder, name)
                rel = "media/" + os.path.relpath(path, root).replace(os.sep, "/")
                if rel in self._blobs or rel in self.in_dvc:
                    continue
                try:
                    found.append((rel, path, os.path.getsize(path)))
                except OSError:
                    continue  # the next commit tries again
        return found

    def _large(self, size: int) -> bool:
        if self._limit is None:
            self._limit = self._limit_of()
        return size > self._limit

    def entries(
        self, live_path: str, write_blob: Callable[[bytes], ObjectId], final: bool = False
    ) -> list[tuple[bytes, int, ObjectId]]:
        """Entries for the meta tree: the files already known plus those new in the folder
        (a large one only in the final commit, unless DVC keeps it)."""
        for rel, path, size in self._files(live_path):
            if not final and self._large(size):
                continue
            try:
                with open(path, "rb") as handle:
                    self._blobs[rel] = write_blob(handle.read())
            except OSError:
                continue
        return [(rel.encode(), _MODE_FILE, sha) for rel, sha in self._blobs.items()]

    def large_files(self, live_path: str) -> list[tuple[str, str]]:
        """(path in the run's tree, file) of each file over the threshold, for DVC."""
        return [
            (f"{META_DIR}/{rel}", path)
            for rel, path, size in self._files(live_path)
            if self._large(size)
        ]

    def kept_in_dvc(self, paths: list[str]) -> None:
        """These files (paths in the run's tree) are DVC artifacts now: not blobs."""
        self.in_dvc.update(path.removeprefix(META_DIR + "/") for path in paths)

    def preload(self, repo: GitRepo, meta_tree: ObjectId) -> None:
        """Keep the media an earlier life of a resumed run committed (its live folder is new)."""
        found = repo.lookup_path(meta_tree, LIVE_MEDIA.encode())
        if found is None or found[0] != _MODE_TREE:
            return
        for path, mode, sha in repo.iter_files(found[1], LIVE_MEDIA.encode() + b"/"):
            if mode != _MODE_TREE:
                self._blobs[path.decode("utf-8", "surrogateescape")] = sha
