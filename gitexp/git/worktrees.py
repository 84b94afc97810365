"""Linked worktrees: the isolated checkouts that restore, branch and rerun use."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from gitexp.git.refs import ObjectId, as_object_id
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from dulwich.repo import Repo


class WorktreeOps:
    """The worktree half of :class:`gitexp.git.repo.GitRepo` (a mixin)."""

    controldir: str
    commondir: str

    @property
    def _repo(self) -> Repo:
        raise NotImplementedError

    def add_worktree(self, path: str, commit: ObjectId | None) -> None:
        """A linked worktree at ``path`` with a detached HEAD at ``commit``, checked out.

        ``commit`` None (a repository with no commits) leaves HEAD on an unborn branch and
        the folder empty.  The common ``info/exclude`` is copied into the worktree's own
        git folder because dulwich reads ignore rules from there, git from the common one:
        without the copy the two would disagree about what is ignored in the worktree.
        """
        from dulwich.repo import Repo
        from dulwich.worktree import add_worktree

        with self._main_repo() as main:
            if commit is None:
                _link_unborn_worktree(main.controldir(), path)
            elif _head_is_unborn(main):
                # dulwich reads the main HEAD first, which a fresh clone of a repository
                # whose default branch is elsewhere (or a git init) does not have yet.
                os.makedirs(path, exist_ok=True)
                control = _link_unborn_worktree(main.controldir(), path)
                with open(os.path.join(control, "HEAD"), "wb") as handle:
                    handle.write(commit + b"\n")
                with Repo(path) as worktree:
                    worktree.get_worktree().reset_index(config=worktree.get_config_stack())
            else:
                add_worktree(main, path, commit=as_object_id(commit), exist_ok=True).close()
        with Repo(path) as worktree:
            own = worktree.controldir()
        exclude = os.path.join(self.commondir, "info", "exclude")
        if os.path.isfile(exclude):
            os.makedirs(os.path.join(own, "info"), exist_ok=True)
            with (
                open(exclude, "rb") as src,
                open(os.path.join(own, "info", "exclude"), "wb") as dst,
            ):
                dst.write(src.read())

    def remove_worktree(self, path: str) -> None:
        """Remove a linked worktree made by :meth:`add_worktree`: its folder and git folder.

        Symbolic links inside are removed, never followed.
        """
        from dulwich.worktree import remove_worktree

        # ValueError: not registered (a half-made worktree); the caller removes the folder.
        with self._main_repo() as main, contextlib.suppress(ValueError):
            remove_worktree(main, path, force=True)

    @contextlib.contextmanager
    def _main_repo(self) -> Iterator[Repo]:
        """The repository owning the worktrees list: the common git folder.

        Opened from a linked worktree, dulwich would register a new worktree under that
        worktree's own git folder, where git never looks.
        """
        if self.controldir == self.commondir:
            yield self._repo
            return
        from dulwich.repo import Repo

        main = Repo(self.commondir)
        try:
            yield main
        finally:
            main.close()


def _head_is_unborn(main: Repo) -> bool:
    try:
        main.head()
    except KeyError:
        return True
    return False


def _link_unborn_worktree(main_controldir: str, path: str) -> str:
    """Register ``path`` as a linked worktree whose HEAD is an unborn branch.

    Written by hand because dulwich's worktree creation resolves the main repository's
    HEAD to a commit and checks it out, and a repository without commits has none
    (``KeyError: b'HEAD'``).  These are the files ``git worktree add --orphan`` writes;
    no index file means an empty index to git and dulwich alike.
    """
    control = os.path.join(os.path.abspath(main_controldir), "worktrees", os.path.basename(path))
    os.makedirs(control)
    dotgit = os.path.join(os.path.abspath(path), ".git")
    with open(dotgit, "wb") as handle:
        handle.write(b"gitdir: " + os.fsencode(control) + b"\n")
    for name, content in (
        ("gitdir", os.fsencode(dotgit)),
        ("commondir", b"../.."),
        ("HEAD", b"ref: refs/heads/gitexp-unborn"),
    ):
        with open(os.path.join(control, name), "wb") as handle:
            handle.write(content + b"\n")
    return control
