"""The only module that imports dulwich: git objects, refs, index and ignore rules.

Everything above this layer speaks in plain types: object ids are 40-character
hex ``bytes`` (dulwich's convention), paths inside a tree are ``bytes`` relative
to the repository root, file modes are git's octal ints.

Why these shapes: the snapshot at run start is on the hot path of every run, so the
index is parsed by gitexp itself (``index.py`` over ``indexfile.py``: three times faster
than dulwich's low-level reader, itself four times faster than ``Repo.open_index``) and
objects are only written when the store lacks them.  A layout gitexp cannot write
(``layout.py``) is refused when the repository is opened.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import zlib
from collections.abc import Callable, Iterable

from gitexp.errors import NotARepositoryError, RepositoryStateError
from gitexp.git import attributes
from gitexp.git import files as gitfiles
from gitexp.git.binary import GitAnswers as GitAnswers  # part of this API
from gitexp.git.config import ConfigOps
from gitexp.git.ignore import IgnoreOps
from gitexp.git.index import IndexOps
from gitexp.git.indexfile import IndexRecord as IndexRecord  # part of this API
from gitexp.git.layout import RepoLayout, check_supported
from gitexp.git.refs import ZERO_ID as ZERO_ID  # part of this API
from gitexp.git.refs import ObjectId as ObjectId  # part of this API
from gitexp.git.refs import RefOps, as_object_id, as_ref, valid_ref_tail
from gitexp.git.trees import MODE_TREE as MODE_TREE  # part of this API
from gitexp.git.trees import TreeChange as TreeChange  # part of this API
from gitexp.git.trees import TreeOps, tree_body
from gitexp.git.worktrees import WorktreeOps
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any

    from dulwich.config import StackedConfig
    from dulwich.ignore import IgnoreFilter, IgnoreFilterManager
    from dulwich.objects import Blob, Commit, Tree
    from dulwich.refs import DiskRefsContainer
    from dulwich.repo import Repo

S_IFGITLINK = 0o160000
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
_TMP_COUNTER = itertools.count()


def _sha1_constructor() -> Callable[[bytes], Any]:
    """CPython's built-in SHA-1: importing hashlib first starts OpenSSL (~2.5 ms a run)."""
    try:
        return cast("Callable[[bytes], Any]", __import__("_sha1").sha1)
    except ImportError:  # an interpreter built without it
        import hashlib

        return hashlib.sha1


_SHA1 = _sha1_constructor()


def _object_id(raw: bytes) -> ObjectId:
    """The id of a loose object's bytes (``<type> <size>\\0<content>``)."""
    return str(_SHA1(raw).hexdigest()).encode("ascii")


class GitRepo(ConfigOps, RefOps, IgnoreOps, WorktreeOps, TreeOps, IndexOps):
    """A git repository with a work tree, opened for gitexp's needs."""

    def __init__(
        self, root: str, controldir: str, commondir: str, repo: Repo | None = None
    ) -> None:
        self.root: str = os.path.abspath(root)
        self.controldir: str = os.path.abspath(controldir)
        self.commondir: str = os.path.abspath(commondir)
        # dulwich's Repo, opened on first need: the run path reads the files itself
        # (gitfiles) for an ordinary layout, and only ever imports dulwich's light parts.
        # Given a Repo (an unusual layout), every answer comes from dulwich.
        self._dulwich = repo
        self._direct = repo is None
        self._objects = gitfiles.ObjectPresence(os.path.join(self.commondir, "objects"))
        self._objects_direct = self._direct
        self._refs_container: DiskRefsContainer | None = None
        self._config: StackedConfig | None = None
        self._ignore: IgnoreFilterManager | None = None
        # git's own answers, when a caller started them (GitAnswers): see use_git_answers.
        self._git: GitAnswers | None = None
        # Root trees this process wrote, by id: a run's commits put .gitexp/ beside the
        # snapshot's top level, which would otherwise be read back from the store.
        self._written_roots: dict[ObjectId, dict[bytes, tuple[int, ObjectId]]] = {}
        self._index_cache: tuple[bytes, dict[bytes, IndexRecord]] | None = None
        self._index_shape: tuple[int, tuple[str, ...]] = (0, ())
        self._layout: RepoLayout | None = None
        self._extra_ignore: IgnoreFilter | None = None
        self._conversion: attributes.Conversions | None = None  # which paths git converts
        self._normalizer: Any = None  # dulwich's checkin normalizer, built when needed

    # -- opening -----------------------------------------------------------------

    @classmethod
    def discover(cls, start: str | None = None) -> GitRepo:
        """Open the repository whose work tree contains ``start`` (default: cwd)."""
        where = os.path.abspath(start or os.getcwd())
        found = gitfiles.find_repository(where)
        if found is not None:
            return cls(*found)
        from dulwich.errors import NotGitRepository
        from dulwich.repo import Repo

        try:
            repo = Repo.discover(where)
        except NotGitRepository:
            raise NotARepositoryError(
                f"{where} is not inside a git repository",
                "gitexp records runs in git: run `git init` here first "
                "(or cd into your project's repository).",
            ) from None
        if repo.bare:
            repo.close()
            parts = where.split(os.sep)
            if ".git" in parts:  # inside the git folder of a repository with a work tree
                work_tree = os.sep.join(parts[: parts.index(".git")]) or os.sep
                raise NotARepositoryError(
                    f"{where} is inside the .git folder of {work_tree}, not in its work tree",
                    f"Run gitexp in the work tree: cd {work_tree}",
                )
            raise NotARepositoryError(
                f"{where} is a bare git repository: there is no work tree to snapshot",
                "Run gitexp inside a clone with a work tree (`git clone <this> <dir>`).",
            )
        try:
            # Only a config with an [extensions] section comes this way: a layout gitexp
            # cannot write is refused before anything is read or written.
            check_supported(repo.commondir())
        except RepositoryStateError:
            repo.close()
            raise
        return cls(repo.path, repo.controldir(), repo.commondir(), repo)

    @property
    def _repo(self) -> Repo:
        if self._dulwich is None:
            from dulwich.repo import Repo

            self._dulwich = Repo(self.root)
        return self._dulwich

    @property
    def dulwich_open(self) -> bool:
        """Whether dulwich was imported and opened here already (else using it for a
        few reads costs its import, ~30 ms, where one git process costs ~2 ms)."""
        return self._dulwich is not None

    def close(self) -> None:
        if self._dulwich is not None:
            self._dulwich.close()

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HEAD -----------------------------------------------------------

    def head_commit(self) -> ObjectId | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        if self._direct:
            with contextlib.suppress(gitfiles.Unanswered):
                return gitfiles.read_ref(self.controldir, self.commondir, b"HEAD", valid_ref_tail)
        try:
            return self._repo.refs[as_ref(b"HEAD")]
        except KeyError:
            return None

    def head_branch(self) -> str | None:
        """The branch HEAD names (``main``), or None when HEAD is detached."""
        target = None
        if self._direct:
            head = gitfiles.read_loose_ref(os.path.join(os.fsencode(self.controldir), b"HEAD"))
            target = head if head and head.startswith(gitfiles.SYMREF) else None
        target = target or self._refs.read_ref(as_ref(b"HEAD"))
        if target and target.startswith(b"ref: refs/heads/"):
            return target[len(b"ref: refs/heads/") :].decode("utf-8", "replace")
        return None

    # -- objects -------------------------------------------------------------------

    def has_object(self, sha: ObjectId) -> bool:
        if self._objects_direct:
            try:
                return self._objects.contains(sha)
            except gitfiles.Unanswered:  # alternates, an old pack index: dulwich reads them
                self._objects_direct = False
        return as_object_id(sha) in self._repo.object_store

    def write_blob(self, data: bytes, path: bytes | None = None) -> ObjectId:
        """Store ``data`` as a blob; with ``path``, as ``git add`` would (eol, filters)."""
        if path is None or not self._needs_normalizing(data, path):
            return self._add_raw(b"blob", data)
        assert self._normalizer is not None
        from dulwich.objects import Blob

        blob = self._normalizer.checkin_normalize(Blob.from_string(data), path)
        self._add(blob)
        return bytes(blob.id)

    def _needs_normalizing(self, data: bytes, path: bytes) -> bool:
        """Whether git's check-in conversion can change ``data`` (git/attributes.py).

        Most ML repositories name no attribute that changes content, and then blobs are
        stored as read, without importing dulwich.
        """
        if self._conversion is None:
            tracked = [
                path.decode("utf-8", "surrogateescape")
                for path in self.read_index()
                if path.endswith(b"/.gitattributes")
            ]
            files = attributes.attribute_files(
                self.root, self.commondir, tracked, self.config_value("core", "attributesFile")
            )
            self._conversion = attributes.Conversions(files, self.config_value("core", "autocrlf"))
        level = self._conversion.for_path(path.decode("utf-8", "surrogateescape"))
        if level == attributes.NONE:
            return False
        if level == attributes.LINE_ENDINGS and b"\r" not in data:
            return False  # check-in only turns CRLF into LF
        if self._normalizer is None:
            self._normalizer = self._repo.get_blob_normalizer()
            # git runs a filter only when the config names its command; dulwich would
            # convert files marked filter=lfs itself (and fill .git/lfs) where git,
            # without git-lfs set up, stores them as they are.
            registry = getattr(self._normalizer, "filter_registry", None)
            factories = getattr(registry, "_factories", None)
            if isinstance(factories, dict):
                factories.pop("lfs", None)
        return True

    def _add(self, obj: Blob | Tree | Commit) -> None:
        self._add_raw(obj.type_name, obj.as_raw_string())

    def _add_raw(self, kind: bytes, body: bytes) -> ObjectId:
        """Add an object unless the store has it; safe with concurrent and killed writers.

        Objects are hashed and compressed here, as git's loose format defines them,
        rather than through dulwich's object classes (a snapshot's trees are hundreds
        of objects of thousands of entries on the hot path of every run).

        A loose object is written as git writes one: to a ``tmp_obj_*`` file in its
        folder, then renamed into place.  Writers of one object write identical bytes,
        so concurrent renames are harmless.  A writer killed half-way leaves a
        ``tmp_obj_*`` file, which ``git fsck`` ignores and ``git gc`` removes; dulwich's
        own ``<sha>.lock`` would instead block every later writer of that object (runs
        started later would wait, then fail).
        """
        raw = b"%s %d\x00%s" % (kind, len(body), body)
        oid = _object_id(raw)
        if self.has_object(oid):
            return oid
        sha = oid.decode("ascii")
        folder = os.path.join(self.commondir, "objects", sha[:2])
        os.makedirs(folder, exist_ok=True)
        # A name of this process's own (pid + counter) opened exclusively: what mkstemp does,
        # without seeding its random generator (~1 ms of a run's start).
        while True:
            tmp = os.path.join(folder, f"tmp_obj_{os.getpid()}_{next(_TMP_COUNTER)}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                continue  # left by a killed process that had this pid
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(zlib.compress(raw))
            os.chmod(tmp, 0o444)
            os.replace(tmp, os.path.join(folder, sha[2:]))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return oid

    def blob_id(self, data: bytes) -> ObjectId:
        """The id ``data`` would have as a blob, without writing it."""
        raw = b"blob %d\x00%s" % (len(data), data)
        return _object_id(raw)

    def write_tree(self, files: Iterable[tuple[bytes, int, ObjectId]]) -> ObjectId:
        """Write the nested trees for ``(path, mode, sha)`` files; return the root id.

        Only trees the store lacks are written, so a snapshot whose folders match an
        earlier commit costs a hash per folder and no I/O.
        """
        nested: dict[bytes, Any] = {}
        for path, mode, sha in files:
            *dirs, name = path.split(b"/")
            node = nested
            for part in dirs:
                node = node.setdefault(part, {})
            node[name] = (mode, sha)
        root, entries = self._store_tree(nested)
        if len(self._written_roots) > 16:
            self._written_roots.clear()
        self._written_roots[root] = entries
        return root

    def write_tree_over(
        self, base: ObjectId | None, extra: dict[bytes, tuple[int, ObjectId]]
    ) -> ObjectId:
        """A copy of tree ``base`` with the top-level entries ``extra`` added or replaced."""
        entries = dict(self.tree_entries(base)) if base is not None else {}
        entries.update(extra)
        return self._add_raw(b"tree", tree_body(entries))

    def _store_tree(
        self, node: dict[bytes, Any]
    ) -> tuple[ObjectId, dict[bytes, tuple[int, ObjectId]]]:
        entries: dict[bytes, tuple[int, ObjectId]] = {}
        for name, value in node.items():
            entries[name] = (
                (MODE_TREE, self._store_tree(value)[0]) if isinstance(value, dict) else value
            )
        return self._add_raw(b"tree", tree_body(entries)), entries

    def write_commit(
        self, tree: ObjectId, parents: list[ObjectId], message: str, when: float | None = None
    ) -> ObjectId:
        stamp = int(when if when is not None else time.time())
        offset = -time.altzone if time.localtime(stamp).tm_isdst > 0 else -time.timezone
        when_text = b"%d %s" % (stamp, _timezone(offset))
        author = b"%s %s" % (self.identity("author"), when_text)
        committer = b"%s %s" % (self.identity("committer"), when_text)
        body = b"".join(
            [
                b"tree %s\n" % tree,
                *(b"parent %s\n" % parent for parent in parents),
                b"author %s\ncommitter %s\nencoding UTF-8\n\n" % (author, committer),
                message.encode("utf-8"),
            ]
        )
        return self._add_raw(b"commit", body)

    def commit_message(self, sha: ObjectId) -> str:
        """A commit's message, read from the raw object (listing reads 10,000 of these).

        Parsing a full Commit costs twice as much; the message is everything after the
        first blank line, as git defines the format (a gpgsig header has no blank line).
        """
        from dulwich.objects import Commit

        type_num, raw = self._repo.object_store.get_raw(as_object_id(sha))
        if type_num != Commit.type_num:
            raise RepositoryStateError(f"{sha.decode()} is not a commit")
        _headers, _blank, message = bytes(raw).partition(b"\n\n")
        return message.decode("utf-8", "replace")

    def commit_author(self, sha: ObjectId) -> str:
        """A commit's author, ``Name <email>`` (the identity it claims: anyone can write it)."""
        from dulwich.objects import Commit

        obj = self._repo.object_store[as_object_id(sha)]
        if not isinstance(obj, Commit):
            raise RepositoryStateError(f"{sha.decode()} is not a commit")
        return bytes(obj.author).decode("utf-8", "replace")

    def commit_info(self, sha: ObjectId) -> tuple[ObjectId, list[ObjectId], str]:
        """(tree, parents, message) of a commit."""
        from dulwich.errors import ObjectFormatException
        from dulwich.objects import Commit

        try:  # dulwich parses an object as it reads it: a crafted one fails here
            obj = self._repo.object_store[as_object_id(sha)]
            if not isinstance(obj, Commit):
                raise RepositoryStateError(f"{sha.decode()} is not a commit")
            return obj.tree, list(obj.parents), obj.message.decode("utf-8", "replace")
        except ObjectFormatException as exc:
            raise RepositoryStateError(
                f"{sha.decode()} is not a well-formed commit: {exc}"
            ) from None

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
        known = self._written_roots.get(tree)
        if known is not None:
            return dict(known)
        from dulwich.objects import Tree

        obj = self._repo.object_store[as_object_id(tree)]
        if not isinstance(obj, Tree):
            raise RepositoryStateError(f"{tree.decode()} is not a tree")
        return {entry.path: (entry.mode, entry.sha) for entry in obj.iteritems()}

    def read_blob(self, sha: ObjectId) -> bytes:
        from dulwich.objects import Blob

        obj = self._repo.object_store[as_object_id(sha)]
        if not isinstance(obj, Blob):
            raise RepositoryStateError(f"{sha.decode()} is not a blob")
        return obj.as_raw_string()

    # -- sharing: ancestry, remote-tracking refs, tree edits (push, pull, artifacts) ------

    def is_ancestor(self, ancestor: ObjectId, descendant: ObjectId, limit: int = 100_000) -> bool:
        """Whether ``ancestor`` is ``descendant`` or one of its ancestors (objects present)."""
        from dulwich.objects import Commit

        store = self._repo.object_store
        seen: set[bytes] = set()
        todo = [descendant]
        while todo and len(seen) < limit:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen:
                continue
            seen.add(sha)
            try:
                obj = store[as_object_id(sha)]
            except KeyError:
                continue
            if isinstance(obj, Commit):
                todo.extend(bytes(parent) for parent in obj.parents)
        return False


def _timezone(offset: int) -> bytes:
    """A commit's time zone as git writes it: ``+0100``, ``-0330``."""
    sign = b"-" if offset < 0 else b"+"
    offset = abs(offset)
    return b"%s%02d%02d" % (sign, offset // 3600, (offset // 60) % 60)
