"""Ignore rules: git's answers where a caller asked git early, else dulwich's reading of them,
then ``.gitexpignore``."""

from __future__ import annotations

import contextlib
import os

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from dulwich.config import StackedConfig
    from dulwich.ignore import IgnoreFilter, IgnoreFilterManager
    from dulwich.repo import Repo

    from gitexp.git.binary import GitAnswers


def read_ignore_file(path: str) -> IgnoreFilter | None:
    from dulwich.ignore import IgnoreFilter

    try:
        with open(path, "rb") as handle:
            lines = [line.rstrip(b"\r\n") for line in handle]
    except OSError:
        return None
    patterns = [line for line in lines if line.strip() and not line.startswith(b"#")]
    return IgnoreFilter(patterns, path=path)


class IgnoreOps:
    """The ignore-rule half of :class:`gitexp.git.repo.GitRepo` (a mixin)."""

    root: str
    controldir: str
    _direct: bool
    _config: StackedConfig | None
    _git: GitAnswers | None
    _ignore: IgnoreFilterManager | None
    _extra_ignore: IgnoreFilter | None

    @property
    def _repo(self) -> Repo:
        raise NotImplementedError

    def _config_stack(self) -> StackedConfig:
        raise NotImplementedError

    def is_ignored(self, relpath: str, changed_ns: int | None = None) -> bool:
        """git's ignore rules, then ``.gitexpignore``; directories end in '/'.

        ``.gitexpignore`` (gitignore syntax, at the repository root) leaves more
        untracked files out of snapshots without changing what git ignores.  With git's
        answers (:meth:`use_git_answers`), an entry is looked up in them unless its
        ``changed_ns`` (its ctime) is after git listed the work tree.
        """
        answer = self._git.ignored(changed_ns) if self._git is not None else None
        if answer is not None:
            return answer.covers(relpath)
        rules = self._dulwich_rules()
        try:
            if rules.is_ignored(relpath):
                return True
        except OSError:
            pass  # an unreadable folder or .gitignore on the way: no rules, as git reads it
        return bool(self._extra_ignore and self._extra_ignore.is_ignored(relpath))

    def _dulwich_rules(self) -> IgnoreFilterManager:
        """git's ignore rules as dulwich reads them (and ``.gitexpignore``), built once."""
        if self._ignore is None:
            self._ignore = self._ignore_rules()
            self._extra_ignore = read_ignore_file(os.path.join(self.root, ".gitexpignore"))
        return self._ignore

    def _ignore_rules(self) -> IgnoreFilterManager:
        """dulwich's ignore rules for this repository, as ``from_repo`` builds them."""
        from dulwich.ignore import IgnoreFilter, IgnoreFilterManager

        if not self._direct:
            return IgnoreFilterManager.from_repo(self._repo)
        from dulwich.ignore import default_user_ignore_filter_path

        if self._config is None:
            self._config = self._config_stack()
        rules: list[IgnoreFilter] = []
        for path in (
            os.path.join(self.controldir, "info", "exclude"),
            default_user_ignore_filter_path(self._config),
        ):
            with contextlib.suppress(OSError):
                rules.append(IgnoreFilter.from_path(os.path.expanduser(path)))
        ignorecase = self._config.get_boolean((b"core",), b"ignorecase", False)
        return IgnoreFilterManager(self.root, rules, ignorecase)

    def may_prune(self, reldir: str, changed_ns: int | None = None) -> bool:
        """Whether an ignored folder can be skipped whole (``dir/**`` + ``!dir/x`` cannot)."""
        answer = self._git.ignored(changed_ns) if self._git is not None else None
        if answer is not None:
            return answer.covers_folder(reldir)
        rules = self._dulwich_rules()
        try:
            if rules.is_ignored(reldir) and rules.may_prune_directory(reldir):
                return True
        except OSError:
            pass  # unreadable: the walk reports the folder it cannot read
        extra = self._extra_ignore
        return bool(extra and extra.is_ignored(reldir) and extra.may_prune_directory(reldir))
