"""Many runs' objects read ahead in batches, for the checks of read/trust.py.

A pull of 10,000 runs checked each through dulwich, object by object: 10,000 commits,
~20,000 trees and 50,000 blobs, each a lookup in the packs, a decompression and a
parse in Python (about half of that pull's 12 s).  The checks themselves do not change:
they ask :class:`ReadAhead` for an object as they asked the repository, and it answers
from what one ``git cat-file --batch`` per kind (and per tree level) read before.  An
object the batch did not hold (absent, of another type, beyond the budgets below) is
asked of the repository as before, so it fails the same way and with the same reason.

The budgets bound memory against a hostile remote: every object's size is asked of git
(``--batch-check``) before a batch reads it; a batch reads commits no larger than a
listing row allows (``COMMIT_BYTES``), at most ``BATCH_BYTES`` of commits or of one
level's trees, ``TREE_ENTRIES`` tree entries and ``BLOB_BYTES`` bytes of blobs (each
blob checked against its own limit), and follows at most ``TREE_LEVELS`` folder levels;
what is beyond them is read one by one, as before.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Protocol

from gitexp.errors import GitexpError
from gitexp.git import catfile
from gitexp.git.repo import MODE_TREE, ObjectId
from gitexp.model import validate

TREE_ENTRIES = 500_000
TREE_LEVELS = 64
BLOB_BYTES = 256 * 1024 * 1024
BATCH_BYTES = 256 * 1024 * 1024  # of commits, or of one level's trees, in one batch
# The largest commit the checks can pass (its message a listing row and a little text,
# read/trust.py), with room for its headers: larger ones fail, read one by one.
COMMIT_BYTES = validate.MAX_ROW_BYTES + 64 * validate.KiB + 16 * validate.KiB
READ_AHEAD_MIN = 16  # runs from which their objects are read in batches (~5 ms a batch)


class Objects(Protocol):
    """What the checks read of a repository (GitRepo, or a :class:`ReadAhead`)."""

    @property
    def root(self) -> str: ...

    def commit_info(self, sha: ObjectId) -> tuple[ObjectId, list[ObjectId], str]: ...

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]: ...

    def read_blob(self, sha: ObjectId) -> bytes: ...


class ReadAhead:
    """The repository's objects, with the ones loaded in batches answered from memory."""

    def __init__(self, repo: Objects) -> None:
        self._repo = repo
        self._commits: dict[ObjectId, catfile.Commit] = {}
        self._trees: dict[ObjectId, catfile.TreeEntries] = {}
        self._blobs: dict[ObjectId, bytes] = {}

    @property
    def root(self) -> str:
        return self._repo.root

    def commit_info(self, sha: ObjectId) -> tuple[ObjectId, list[ObjectId], str]:
        found = self._commits.get(sha)
        if found is None:
            return self._repo.commit_info(sha)
        tree, parents, message = found
        return tree, list(parents), message

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
        found = self._trees.get(tree)
        return dict(found) if found is not None else self._repo.tree_entries(tree)

    def read_blob(self, sha: ObjectId) -> bytes:
        found = self._blobs.get(sha)
        return found if found is not None else self._repo.read_blob(sha)

    def load_commits(self, shas: Iterable[ObjectId]) -> list[ObjectId]:
        """Read these commits; returns their root trees (of the ones that parsed)."""
        try:
            wanted = _within(self.root, list(dict.fromkeys(shas)), COMMIT_BYTES)
            found = catfile.read_commits(self.root, wanted)
        except (GitexpError, OSError, ValueError):
            return []  # no git program, or it failed: every commit is read one by one
        roots = []
        for sha, commit in found.items():
            if commit is not None:
                self._commits[sha] = commit
                roots.append(commit[0])
        return roots

    def load_trees(self, roots: Iterable[ObjectId], known: Container[tuple[str, ObjectId]]) -> None:
        """Read these trees and their folders, level by level, one batch per level.

        ``known``: (path prefix, tree) pairs already checked (read/trust.py's folders),
        whose trees the walk will not ask for.  Paths are spelled as the walk spells them.
        """
        level = [("", root) for root in dict.fromkeys(roots)]
        budget = TREE_ENTRIES
        for _depth in range(TREE_LEVELS):
            level = [pair for pair in dict.fromkeys(level) if pair not in known]
            wanted = [
                sha for sha in dict.fromkeys(sha for _, sha in level) if sha not in self._trees
            ]
            if wanted:
                try:
                    found = catfile.read_trees(self.root, _within(self.root, wanted))
                except (GitexpError, OSError, ValueError):
                    return
                for sha, entries in found.items():
                    if entries is not None:
                        self._trees[sha] = entries
                        budget -= len(entries)
            following = []
            for prefix, sha in level:
                for name, (mode, sub) in self._trees.get(sha, {}).items():
                    if mode == MODE_TREE:
                        path = prefix + name.decode("utf-8", "surrogateescape")
                        following.append((path + "/", sub))
            if not following or budget < 0:
                return
            level = following

    def load_blobs(self, limits: dict[ObjectId, int], sizes: dict[ObjectId, int | None]) -> None:
        """Read these blobs, each only if its size (asked of git) is within its limit."""
        wanted: list[ObjectId] = []
        total = 0
        for sha, limit in limits.items():
            size = sizes.get(sha)
            if size is None or size > limit or sha in self._blobs:
                continue
            total += size
            if total > BLOB_BYTES:
                break
            wanted.append(sha)
        try:
            self._blobs.update(catfile.read_blobs(self.root, wanted))
        except (GitexpError, OSError, ValueError):
            return


def _within(root: str, shas: list[ObjectId], each: int | None = None) -> list[ObjectId]:
    """The objects a batch may read: each no larger than ``each``, together at most
    ``BATCH_BYTES`` (their sizes asked of git first); the rest are read one by one."""
    wanted: list[ObjectId] = []
    total = 0
    for sha, size in zip(shas, catfile.object_sizes(root, [s.decode() for s in shas]), strict=True):
        if size is None or (each is not None and size > each):
            continue
        total += size
        if total > BATCH_BYTES:
            break
        wanted.append(sha)
    return wanted


def read_ahead(
    repo: Objects, commits: list[ObjectId], known: Container[tuple[str, ObjectId]]
) -> Objects:
    """The repository with these commits and their trees read ahead (``known``: folders
    already checked); the repository itself for a few, where a batch costs more."""
    if len(commits) < READ_AHEAD_MIN:
        return repo
    ahead = ReadAhead(repo)
    ahead.load_trees(ahead.load_commits(commits), known)
    return ahead
