"""Tree logic over git's object model, without dulwich: paths, diffs, edits, tree bytes.

:class:`TreeOps` is mixed into :class:`gitexp.git.repo.GitRepo`, which supplies the
three primitives it needs (read a tree's entries, read a blob, store raw objects); the
logic here is plain Python over ``{name: (mode, id)}`` entries, so it lives apart from
the dulwich boundary.
"""

from __future__ import annotations

from collections.abc import Iterator

from gitexp.slotted import Slotted

ObjectId = bytes  # 40 hex digits, as dulwich uses them
MODE_TREE = 0o040000


class TreeChange(Slotted):
    """One path that differs between two trees (for diffstats and ``show``; read-only)."""

    _fields = ("kind", "path", "old_sha", "new_sha")
    __slots__ = _fields
    kind: str  # "add", "delete", "modify"
    path: str
    old_sha: ObjectId | None
    new_sha: ObjectId | None

    def __init__(
        self, kind: str, path: str, old_sha: ObjectId | None, new_sha: ObjectId | None
    ) -> None:
        self.kind, self.path, self.old_sha, self.new_sha = kind, path, old_sha, new_sha

    def __hash__(self) -> int:
        return hash((self.kind, self.path, self.old_sha, self.new_sha))


def tree_body(entries: dict[bytes, tuple[int, ObjectId]]) -> bytes:
    """A tree object's content as git writes it: entries sorted by name, a folder's name
    compared as if it ended in '/', each ``<octal mode> <name>\\0<20-byte id>``."""
    order = sorted(entries, key=lambda name: name + b"/" if entries[name][0] == MODE_TREE else name)
    unhex = bytes.fromhex
    return b"".join(
        b"%04o %s\x00%s" % (entries[name][0], name, unhex(entries[name][1].decode("ascii")))
        for name in order
    )


class TreeOps:
    """Path lookups, file listings, diffs and edits of trees (see the module docstring)."""

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
        raise NotImplementedError

    def read_blob(self, sha: ObjectId) -> bytes:
        raise NotImplementedError

    def _add_raw(self, kind: bytes, body: bytes) -> ObjectId:
        raise NotImplementedError

    def lookup_path(self, tree: ObjectId, path: bytes) -> tuple[int, ObjectId] | None:
        node: tuple[int, ObjectId] = (MODE_TREE, tree)
        for part in path.split(b"/"):
            if node[0] != MODE_TREE:
                return None
            found = self.tree_entries(node[1]).get(part)
            if found is None:
                return None
            node = found
        return node

    def read_file(self, tree: ObjectId, path: str) -> bytes | None:
        """A file's bytes in ``tree`` (None when absent or not a file)."""
        found = self.lookup_path(tree, path.encode())
        if found is None or found[0] == MODE_TREE:
            return None
        return self.read_blob(found[1])

    def iter_files(
        self, tree: ObjectId, prefix: bytes = b""
    ) -> Iterator[tuple[bytes, int, ObjectId]]:
        """Every non-tree entry under ``tree`` as (path, mode, sha), depth first."""
        for name, (mode, sha) in sorted(self.tree_entries(tree).items()):
            path = prefix + name
            if mode == MODE_TREE:
                yield from self.iter_files(sha, path + b"/")
            else:
                yield path, mode, sha

    def diff_trees(
        self, old: ObjectId | None, new: ObjectId | None, exclude_top: bytes = b".gitexp"
    ) -> list[TreeChange]:
        """Paths that differ between two trees, skipping the top-level ``exclude_top``."""
        changes: list[TreeChange] = []
        self._diff_into(old, new, b"", exclude_top, changes)
        return changes

    def _diff_into(
        self,
        old: ObjectId | None,
        new: ObjectId | None,
        prefix: bytes,
        exclude_top: bytes,
        out: list[TreeChange],
    ) -> None:
        if old == new:
            return
        a = self.tree_entries(old) if old else {}
        b = self.tree_entries(new) if new else {}
        for name in sorted(set(a) | set(b)):
            if not prefix and name == exclude_top:
                continue
            ea, eb = a.get(name), b.get(name)
            if ea == eb:
                continue
            path = prefix + name
            a_tree = ea[1] if ea and ea[0] == MODE_TREE else None
            b_tree = eb[1] if eb and eb[0] == MODE_TREE else None
            if a_tree or b_tree:
                self._diff_into(a_tree, b_tree, path + b"/", exclude_top, out)
            a_file = ea if ea and ea[0] != MODE_TREE else None
            b_file = eb if eb and eb[0] != MODE_TREE else None
            if a_file is None and b_file is None:
                continue
            kind = "add" if a_file is None else "delete" if b_file is None else "modify"
            out.append(
                TreeChange(
                    kind,
                    path.decode("utf-8", "surrogateescape"),
                    a_file[1] if a_file else None,
                    b_file[1] if b_file else None,
                )
            )

    def edit_tree(
        self, base: ObjectId | None, changes: dict[bytes, tuple[int, ObjectId] | None]
    ) -> ObjectId:
        """A copy of tree ``base`` with files set to ``(mode, sha)`` or removed (``None``
        removes a file or a whole folder); only the folders on the changed paths are
        rewritten."""
        edited = self._edit(base, changes)
        return edited if edited is not None else self._add_raw(b"tree", b"")

    def _edit(
        self, base: ObjectId | None, changes: dict[bytes, tuple[int, ObjectId] | None]
    ) -> ObjectId | None:
        entries = dict(self.tree_entries(base)) if base is not None else {}
        nested: dict[bytes, dict[bytes, tuple[int, ObjectId] | None]] = {}
        for path, value in changes.items():
            head, slash, rest = path.partition(b"/")
            if slash:
                nested.setdefault(head, {})[rest] = value
            elif value is None:
                entries.pop(head, None)
            else:
                entries[head] = value
        for head, sub in nested.items():
            current = entries.get(head)
            sub_base = current[1] if current is not None and current[0] == MODE_TREE else None
            if sub_base is None and all(value is None for value in sub.values()):
                continue
            edited = self._edit(sub_base, sub)
            if edited is None:
                entries.pop(head, None)
            else:
                entries[head] = (MODE_TREE, edited)
        if not entries:
            return None
        return self._add_raw(b"tree", tree_body(entries))
