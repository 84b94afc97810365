"""Which of git's repository layouts a repository uses, found once per command.

git stores the same history in several layouts: objects named by SHA-1 or SHA-256, refs
as files or in a reftable, an index that is split, sparse or carries caches, work trees
linked to one git folder, submodules, shallow and partial clones.  gitexp's fast readers
(``files.py``, ``indexfile.py``) understand the common layout only; the others are
either read through the ``git`` binary (``index.py``) or refused here, before anything
is read or written, with a message that names the layout (docs/format.md, "Repository
layouts").  Refusing beats guessing: a wrong object written into a SHA-256 store or a
ref file beside a reftable would be a corrupt repository, not a failed command.
"""

from __future__ import annotations

import os

from gitexp.errors import RepositoryStateError
from gitexp.slotted import Slotted


class RepoLayout(Slotted):
    """What a repository's layout is, as far as gitexp reads and writes it (read-only)."""

    _fields = (
        "object_format",
        "ref_storage",
        "index_version",
        "index_extensions",
        "linked_worktree",
        "sparse_checkout",
        "submodules",
        "shallow",
        "partial",
    )
    __slots__ = _fields
    object_format: str  # "sha1" (the only one gitexp writes) or "sha256"
    ref_storage: str  # "files" or "reftable"
    index_version: int  # 0 when there is no index yet
    index_extensions: tuple[str, ...]  # "link", "sdir", "UNTR", "FSMN", "EOIE", "IEOT", ...
    linked_worktree: bool  # a work tree added with `git worktree add`
    sparse_checkout: bool  # core.sparseCheckout: files outside the patterns are not on disk
    submodules: bool  # the index holds gitlinks
    shallow: bool  # history cut at `.git/shallow`
    partial: bool  # objects missing on purpose, fetched on demand from a promisor remote

    def __init__(self, **values: object) -> None:
        for name in self._fields:
            setattr(self, name, values[name])

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self._fields))

    @property
    def split_index(self) -> bool:
        return "link" in self.index_extensions

    @property
    def sparse_index(self) -> bool:
        return "sdir" in self.index_extensions

    def names(self) -> list[str]:
        """The layout in words, for ``gitexp doctor`` and messages: ``["split index", ...]``."""
        words = {
            "sparse checkout": self.sparse_checkout,
            "split index": self.split_index,
            "sparse index": self.sparse_index,
            "untracked cache": "UNTR" in self.index_extensions,
            "fsmonitor": "FSMN" in self.index_extensions,
            f"index version {self.index_version}": self.index_version not in (0, 2, 3),
            "linked worktree": self.linked_worktree,
            "submodules": self.submodules,
            "shallow clone": self.shallow,
            "partial clone": self.partial,
        }
        return [word for word, used in words.items() if used] or ["plain"]


def read_config(path: str) -> dict[str, str]:
    """``{"section.key": value}`` of one git config file (lower-cased names, last value
    wins, subsections dropped: ``remote "origin"`` counts as ``remote``).

    Only the few keys that decide the layout are read from it; includes are not
    followed (git allows no ``extensions`` there that change the layout's meaning).
    """
    values: dict[str, str] = {}
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return values
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            header = line[1 : line.find("]")] if "]" in line else line[1:]
            section = header.split('"')[0].strip().split(".")[0].lower()
            line = line[line.find("]") + 1 :].strip() if "]" in line else ""
            if not line:
                continue
        key, equals, value = line.partition("=")
        value = value.split(" #")[0].split(" ;")[0].strip().strip('"') if equals else "true"
        values[f"{section}.{key.strip().lower()}"] = value
    return values


def check_supported(commondir: str) -> dict[str, str]:
    """Refuse a repository whose objects or refs gitexp cannot write correctly; return
    its config (as :func:`read_config` reads it).

    Raises :class:`RepositoryStateError` (exit 6) naming the layout and the next step.
    """
    config = read_config(os.path.join(commondir, "config"))
    object_format = config.get("extensions.objectformat", "sha1").lower()
    if object_format != "sha1":
        raise RepositoryStateError(
            f"this repository stores {object_format.upper().replace('SHA', 'SHA-')} objects "
            f"(extensions.objectFormat = {object_format}); gitexp writes SHA-1 objects "
            "only, so it records nothing here rather than write objects git cannot use",
            "Record runs in a SHA-1 clone of the project (`git init` and `git clone` "
            "make SHA-1 repositories unless given --object-format=sha256).",
        )
    ref_storage = config.get("extensions.refstorage", "files").lower()
    if ref_storage != "files":
        raise RepositoryStateError(
            f"this repository keeps its refs in a {ref_storage} "
            f"(extensions.refStorage = {ref_storage}); gitexp reads and writes refs as "
            "files only, so it records nothing here",
            "Convert the refs to files (`git refs migrate --ref-format=files`, git 2.46 "
            "or later), or record runs in a clone made with the files format.",
        )
    return config


def detect(
    controldir: str,
    commondir: str,
    index_version: int,
    index_extensions: tuple[str, ...],
    gitlinks: bool,
) -> RepoLayout:
    """The layout of a repository whose index has been read (``index.py`` gives the
    index's version, extensions and whether it holds gitlinks)."""
    config = check_supported(commondir)
    if _true(config.get("extensions.worktreeconfig", "")):
        config.update(read_config(os.path.join(controldir, "config.worktree")))
    partial = _true(config.get("remote.promisor", "")) or bool(
        config.get("extensions.partialclone")
    )
    return RepoLayout(
        object_format="sha1",
        ref_storage="files",
        index_version=index_version,
        index_extensions=index_extensions,
        linked_worktree=os.path.abspath(controldir) != os.path.abspath(commondir),
        sparse_checkout=_true(config.get("core.sparsecheckout", "")),
        submodules=gitlinks,
        shallow=os.path.exists(os.path.join(commondir, "shallow")),
        partial=partial,
    )


def _true(value: str) -> bool:
    return value.lower() in ("true", "yes", "on", "1")
