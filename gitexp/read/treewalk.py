"""A run's tree walked and checked entry by entry, each folder once per path.

Every entry's name, path and mode are checked (``model/validate.py``); the walk returns
the files gitexp reads (under ``.gitexp/``, and the DVC pointer file) and every symbolic
link, which later checks need.  A folder's checks depend only on its object and its
path, so one seen at the same path before (``folders``, shared by a call over many
runs) is not read again, and once every folder under it has passed, its whole subtree
(entries, links, files) is added at once: runs of one project share their code's
folders, and a pull of 10,000 runs stepped through ~93 folders a run before, ~40 after.  A
folder with a problem is never kept, so its problem is found (and reported the same
way) each time.
"""

from __future__ import annotations

from gitexp.git.repo import MODE_LINK, MODE_TREE, ObjectId
from gitexp.model import validate
from gitexp.model.record import META_DIR
from gitexp.read.readahead import Objects

POINTER_FILE = ".gitexp-artifacts.dvc"  # artifacts/pointers.py: POINTER_PATH
Subtree = tuple[int, list[str], list[tuple[str, ObjectId]]]  # entries, links, files
Place = tuple[str, ObjectId]  # a folder: its path and its tree


class Folder:
    """One folder of a run's tree, checked: its entries' count, the subfolders to walk,
    its symbolic links and the files gitexp reads, by full path; ``whole``: the same for
    the folder and everything under it, once all of it has passed."""

    __slots__ = ("count", "links", "meta", "subfolders", "whole")

    def __init__(self) -> None:
        self.count = 0
        self.subfolders: list[tuple[str, ObjectId]] = []
        self.links: list[str] = []
        self.meta: list[tuple[str, ObjectId]] = []
        self.whole: Subtree | None = None

    def parts(
        self,
    ) -> tuple[int, list[str], list[tuple[str, ObjectId]], list[tuple[str, ObjectId]]]:
        """(entries, links, files, subfolders still to walk): the whole subtree's once
        it is known (nothing left to walk), else this folder's own."""
        if self.whole is not None:
            return (*self.whole, [])
        return self.count, self.links, self.meta, self.subfolders


def walk(
    repo: Objects, root: ObjectId, folders: dict[tuple[str, ObjectId], Folder]
) -> tuple[str | None, dict[str, ObjectId], set[str]]:
    """Every entry of the tree checked; returns (problem, the files gitexp reads by their
    path under ``.gitexp/`` plus the pointer file, every symbolic link's path)."""
    meta: dict[str, ObjectId] = {}
    links: set[str] = set()
    todo: list[tuple[str, ObjectId]] = [("", root)]
    count = 0
    while todo:
        prefix, tree = todo.pop()
        folder = folders.get((prefix, tree))
        if folder is None:
            problem, folder = _folder(repo, prefix, tree, count)
            if problem is not None:
                return problem, meta, links
            folders[(prefix, tree)] = folder
        entries, its_links, its_meta, subfolders = folder.parts()
        count += entries
        links.update(its_links)
        meta.update(its_meta)
        todo.extend(subfolders)
        if count > validate.MAX_TREE_ENTRIES:
            return f"its tree has more than {validate.MAX_TREE_ENTRIES} entries", meta, links
    for key in folders[("", root)].subfolders:  # all of the tree passed: remember its parts
        _remember_whole(folders, key)
    return None, meta, links


def _remember_whole(folders: dict[tuple[str, ObjectId], Folder], top: tuple[str, ObjectId]) -> None:
    """Sum up the subtree at ``top``, every folder of which has passed (is in ``folders``)."""
    folder = folders.get(top)
    if folder is None or folder.whole is not None:
        return
    count, links, meta = 0, [], []
    todo = [top]
    while todo:
        part = folders.get(todo.pop())
        if part is None:
            return  # not all of it checked: nothing remembered
        entries, its_links, its_meta, subfolders = part.parts()
        count += entries
        links.extend(its_links)
        meta.extend(its_meta)
        todo.extend(subfolders)
    folder.whole = (count, links, meta)


def _folder(repo: Objects, prefix: str, tree: ObjectId, count: int) -> tuple[str | None, Folder]:
    """One folder's entries checked (``count``: entries of the tree seen before it)."""
    folder = Folder()
    for name, (mode, sha) in repo.tree_entries(tree).items():
        folder.count += 1
        if count + folder.count > validate.MAX_TREE_ENTRIES:
            return f"its tree has more than {validate.MAX_TREE_ENTRIES} entries", folder
        if not name or b"/" in name or b"\0" in name:
            return f"its tree has an entry named {name[:100]!r}", folder
        path = prefix + name.decode("utf-8", "surrogateescape")
        problem = validate.check_tree_entry(path, mode)
        if problem:
            return f"its tree holds {problem}", folder
        if mode == MODE_TREE:
            folder.subfolders.append((path + "/", sha))
        elif mode == MODE_LINK:
            folder.links.append(path)
        elif path.startswith(META_DIR + "/"):
            folder.meta.append((path[len(META_DIR) + 1 :], sha))
        elif path == POINTER_FILE:
            folder.meta.append((path, sha))
    return None, folder
