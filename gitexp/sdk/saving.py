"""``gitexp.save(glob, base_path, policy)``: files kept with the run.

A small file (text up to the snapshot's size limit, or any file up to its binary limit:
record/notcode.py) is copied into the live folder's ``saved/`` and committed under
``.gitexp/files/<name>``; a larger one goes into DVC's cache as a file of the run's
artifact ``run-<id>-files`` (logged when the run ends), as other large outputs do.

``policy``: ``"now"`` keeps the content as it is at the call; ``"live"`` keeps it
current (copied again at each checkpoint and at the end); ``"end"`` keeps it as it is
when the run ends.  The glob is expanded again at the end for ``live`` and ``end``, so
files created later are kept too.
"""

from __future__ import annotations

import glob as globmod
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from gitexp.errors import GitexpError
from gitexp.record.notcode import (
    DEFAULT_MAX_BINARY_SIZE,
    DEFAULT_MAX_FILE_SIZE,
    max_binary_size,
    max_file_size,
)

if TYPE_CHECKING:
    from gitexp.record.live import LiveDir
    from gitexp.sdk.artifact import Artifact

SAVED_DIR = "saved"  # in the live folder; committed as .gitexp/files/
POLICIES = ("live", "now", "end")
DEFAULT_LIMITS = (DEFAULT_MAX_BINARY_SIZE, DEFAULT_MAX_FILE_SIZE)


def in_git(path: str, limits: tuple[int, int] = DEFAULT_LIMITS) -> bool:
    """The snapshot's rule: small files, and text files up to the larger limit, go to git.

    ``limits``: (any file, text file) sizes, the repository's (:func:`size_limits`)."""
    any_file, text_file = limits
    size = os.path.getsize(path)
    if size <= any_file:
        return True
    if size > text_file:
        return False
    with open(path, "rb") as handle:
        return b"\x00" not in handle.read(8192)


def size_limits(root: str | None) -> tuple[int, int]:
    """The snapshot's size limits as the repository at ``root`` configures them
    (``gitexp.maxBinarySize``, ``gitexp.maxFileSize`` or their environment variables)."""
    if root is None:
        return DEFAULT_LIMITS
    from gitexp.git.repo import GitRepo

    try:
        with GitRepo.discover(root) as repo:
            return max_binary_size(repo), max_file_size(repo)
    except GitexpError:  # the repository went away: the defaults
        return DEFAULT_LIMITS


class Saver:
    """The saved files of one run, and the globs still watched."""

    def __init__(self, live: LiveDir, run_id: str, root: str | None = None) -> None:
        self.live = live
        self.run_id = run_id
        self.limits = size_limits(root)  # the repository's, as its snapshot uses them
        self.watched: list[tuple[str, str, str]] = []  # (glob, base, policy)
        self.copied: dict[str, tuple[float, int]] = {}  # name -> (mtime, size) copied
        self.large: dict[str, str] = {}  # name -> path of a file for DVC
        self._frozen: str | None = None  # copies of large "now" files

    def save(self, pattern: str, base_path: str | None, policy: str) -> list[str]:
        """Keep the files matching ``pattern``; their names in the run."""
        if policy not in POLICIES:
            raise ValueError(
                f"gitexp.save: policy must be one of {', '.join(POLICIES)}, not {policy!r}"
            )
        pattern = os.path.abspath(os.fspath(pattern))
        base = os.path.abspath(base_path) if base_path else os.getcwd()
        if policy != "end":
            names = self._take(pattern, base, frozen=policy == "now")
        else:
            names = [name for name, _path in _matches(pattern, base)]
        if policy != "now":
            self.watched.append((pattern, base, policy))
        return names

    def flush(self, final: bool) -> None:
        """Copy what ``live`` files changed (and, at the end, every watched glob again)."""
        for pattern, base, policy in self.watched:
            if policy == "live" or final:
                self._take(pattern, base, frozen=False)

    def large_files(self) -> Artifact | None:
        """The artifact holding the large saved files (None when there are none)."""
        if not self.large:
            return None
        from gitexp.sdk.artifact import Artifact

        artifact = Artifact(f"run-{self.run_id}-files", "run-files")
        for name, path in sorted(self.large.items()):
            if os.path.isfile(path):
                artifact.add_file(path, name)
        return artifact

    def _take(self, pattern: str, base: str, frozen: bool) -> list[str]:
        names = []
        for name, path in _matches(pattern, base):
            names.append(name)
            try:
                st = os.stat(path)
                if not in_git(path, self.limits):
                    self.large[name] = self._freeze(name, path) if frozen else path
                    continue
                if self.copied.get(name) == (st.st_mtime, st.st_size):
                    continue
                target = os.path.join(self.live.file(SAVED_DIR), *name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(path, target + ".tmp")
                os.replace(target + ".tmp", target)
                self.copied[name] = (st.st_mtime, st.st_size)
            except OSError:
                continue  # gone or unreadable meanwhile: the next flush tries again
        return names

    def _freeze(self, name: str, path: str) -> str:
        if self._frozen is None:
            self._frozen = tempfile.mkdtemp(prefix="gitexp-save-")
        target = os.path.join(self._frozen, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        return target

    def cleanup(self) -> None:
        if self._frozen is not None:
            shutil.rmtree(self._frozen, ignore_errors=True)
            self._frozen = None


def _matches(pattern: str, base: str) -> list[tuple[str, str]]:
    """``(name, path)`` of the files matching ``pattern``; names relative to ``base``
    (a file outside ``base`` keeps its file name only)."""
    found = []
    for path in sorted(globmod.glob(pattern, recursive=True)):
        if not os.path.isfile(path):
            continue
        rel = os.path.relpath(path, base)
        if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
            rel = os.path.basename(path)
        name = rel.replace(os.sep, "/")
        if name.split("/")[0] in (".git", ".gitexp"):
            continue
        found.append((name, path))
    return found
