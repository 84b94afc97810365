"""The index as gitexp reads it, in every layout git writes it (a mixin of ``GitRepo``).

The common index (versions 2 to 4, with or without caches) is parsed by
``indexfile.py``.  Two extensions change what its entries mean, and are read otherwise:

- a split index (``link``) holds only the entries changed since its shared index: the
  ``git`` binary writes a whole copy (``git update-index --no-split-index`` on a
  temporary file), which is then parsed as usual, stat data included;
- a sparse index (``sdir``) holds one entry per folder outside the sparse cone: each is
  expanded from its tree, as git's own ``ensure_full_index`` does, into skip-worktree
  entries.

Read as they are, the first made tracked files look untracked (a tracked ``.env`` was
left out as a secret) and the second gave trees an entry with an empty name.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping

from gitexp.git import binary
from gitexp.git.indexfile import (
    FLAG_ASSUME_UNCHANGED,
    FLAG_SKIP_WORKTREE,
    IndexFormatError,
    IndexRecord,
    ObjectId,
    parse_index,
)
from gitexp.git.layout import RepoLayout, detect
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from dulwich.repo import Repo

S_IFGITLINK = 0o160000
MODE_TREE = 0o040000


def _mtime_ns(value: Any) -> int:
    if isinstance(value, tuple):
        return int(value[0]) * 1_000_000_000 + int(value[1])
    return int(float(value) * 1_000_000_000)


class IndexOps:
    """Reading the index, and the layout found with it (a mixin of ``GitRepo``)."""

    root: str
    controldir: str
    commondir: str
    _direct: bool
    _index_cache: tuple[bytes, dict[bytes, IndexRecord]] | None
    _index_shape: tuple[int, tuple[str, ...]]
    _layout: RepoLayout | None

    @property
    def _repo(self) -> Repo:
        raise NotImplementedError

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
        raise NotImplementedError

    @property
    def layout(self) -> RepoLayout:
        """The repository's layout, found once per command (see ``layout.py``)."""
        if self._layout is None:
            index = self.read_index()
            version, extensions = self._index_shape
            gitlinks = any(record.mode == S_IFGITLINK for record in index.values())
            self._layout = detect(self.controldir, self.commondir, version, extensions, gitlinks)
        return self._layout

    def _index_path(self) -> str:
        if self._direct:
            return os.path.join(self.controldir, "index")
        return str(self._repo.index_path())

    def index_mtime_ns(self) -> int:
        try:
            return os.stat(self._index_path()).st_mtime_ns
        except FileNotFoundError:
            return 0

    def read_index(self) -> Mapping[bytes, IndexRecord]:
        """Stage-0 entries of the index by path (conflicted paths use stage 0 or none).

        Read-only: while the index file holds the same bytes, later calls return the
        same mapping (a run's snapshot and its inputs fingerprint both need it).
        """
        try:
            with open(self._index_path(), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return {}
        if self._index_cache is not None and self._index_cache[0] == data:
            return self._index_cache[1]
        names: list[bytes] = []
        try:
            parsed = parse_index(data, names)
        except (IndexFormatError, struct.error, IndexError):
            return self._read_with_dulwich()
        version = struct.unpack_from(">L", data, 4)[0]
        extensions = tuple(name.decode("ascii", "replace") for name in names)
        if "link" in extensions:
            whole = binary.whole_index(self.root, self._index_path())
            names = []
            parsed = parse_index(whole, names)
            if any(name == b"link" for name in names):
                raise IndexFormatError("git left the index split")
        if any(record.mode == MODE_TREE for record in parsed.values()):
            parsed = self._expand_sparse(parsed)
        self._index_shape = (version, extensions)
        self._index_cache = (data, parsed)
        return parsed

    def _expand_sparse(self, records: dict[bytes, IndexRecord]) -> dict[bytes, IndexRecord]:
        """A sparse index's folder entries (``docs/``, a tree) as the files in them:
        skip-worktree entries, which the snapshot keeps as they are."""
        expanded: dict[bytes, IndexRecord] = {}
        for path, record in records.items():
            if record.mode != MODE_TREE:
                expanded[path] = record
                continue
            todo = [(path.rstrip(b"/"), record.sha)]
            while todo:
                folder, tree = todo.pop()
                for name, (mode, sha) in self.tree_entries(tree).items():
                    inner = folder + b"/" + name
                    if mode == MODE_TREE:
                        todo.append((inner, sha))
                    else:
                        expanded[inner] = IndexRecord(inner, mode, sha, 0, 0, 0, 0, True)
        return dict(sorted(expanded.items()))

    def _read_with_dulwich(self) -> dict[bytes, IndexRecord]:
        """What the fast parser leaves (an old version, a damaged file): dulwich reads it,
        or raises its own error."""
        from dulwich.index import read_index

        records: dict[bytes, IndexRecord] = {}
        with open(self._index_path(), "rb") as handle:
            for entry in read_index(handle):
                stage = (entry.flags >> 12) & 0x3
                if stage:
                    continue
                records[entry.name] = IndexRecord(
                    entry.name,
                    entry.mode,
                    entry.sha,
                    entry.size,
                    _mtime_ns(entry.mtime),
                    _mtime_ns(entry.ctime),
                    entry.ino,
                    bool(entry.flags & FLAG_ASSUME_UNCHANGED)
                    or bool(entry.extended_flags & FLAG_SKIP_WORKTREE),
                )
        self._index_shape = (0, ())
        return records
