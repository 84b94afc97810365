"""git config as gitexp reads it: git's own answer where a caller asked git early, else
dulwich's reading of the config stack; and the commit identities it resolves."""

from __future__ import annotations

import os
import time

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from dulwich.config import StackedConfig
    from dulwich.repo import Repo

    from gitexp.git.binary import GitAnswers


class ConfigOps:
    """The config half of :class:`gitexp.git.repo.GitRepo` (a mixin)."""

    commondir: str
    root: str
    _direct: bool
    _config: StackedConfig | None
    _git: GitAnswers | None

    @property
    def _repo(self) -> Repo:
        raise NotImplementedError

    def use_git_answers(self, answers: GitAnswers) -> None:
        """Answer config and ignore questions from ``git`` itself, asked in advance.

        ``gitexp run`` starts ``git config --list`` and ``git ls-files --ignored`` before
        its snapshot: git works on another core, its answers are git's own semantics, and
        the run needs none of dulwich's config and ignore code (~6 ms of imports).  Where
        git could not answer, dulwich does, as without them.
        """
        self._git = answers

    def ask_git_config(self) -> None:
        """Have ``git config --list`` answer the config questions from now on (started
        here), unless answers were asked for already.  A command that reads a value or
        two (``ls``: the default project) pays one git process (~2 ms) instead of
        importing dulwich's config reader (~15 ms, with ``dataclasses`` and ``logging``)."""
        if self._git is None:
            from gitexp.git.binary import GitAnswers, config_list

            self._git = GitAnswers(time.time_ns(), config_list(self.root), lambda: None)

    def config_value(self, section: str, name: str) -> str | None:
        """A value from the repository's git config stack (repo, global, system)."""
        listed = self._git.config() if self._git is not None else None
        if listed is not None:
            return listed.get(f"{section}.{name}".lower())
        if self._config is None:
            self._config = self._config_stack()
        stack = self._config
        try:
            return stack.get((section.encode(),), name.encode()).decode("utf-8", "replace")
        except KeyError:
            return None

    def config_values(self, section: str, name: str) -> list[str]:
        """Every value of a multi-valued key (``git config --add``), in git's order."""
        listed = self._git.config() if self._git is not None else None
        if listed is not None:
            return list(getattr(listed, "every", {}).get(f"{section}.{name}".lower(), []))
        if self._config is None:
            self._config = self._config_stack()
        found = self._config.get_multivar((section.encode(),), name.encode())
        return [value.decode("utf-8", "replace") for value in found]

    def remote_url(self, remote: str) -> str | None:
        """``remote.<remote>.url`` (a subsection, which ``config_value`` does not name)."""
        listed = self._git.config() if self._git is not None else None
        if listed is not None:
            return listed.get(f"remote.{remote}.url".lower())
        if self._config is None:
            self._config = self._config_stack()
        try:
            found = self._config.get((b"remote", remote.encode()), b"url")
        except KeyError:
            return None
        return found.decode("utf-8", "replace")

    def _config_stack(self) -> StackedConfig:
        if not self._direct:
            return self._repo.get_config_stack()
        from dulwich.config import ConfigFile, StackedConfig

        path = os.path.join(self.commondir, "config")
        local = ConfigFile.from_path(path) if os.path.exists(path) else ConfigFile()
        backends = [local, *StackedConfig.default_backends()]
        return StackedConfig(backends, writable=local)

    def identity(self, role: str = "author") -> bytes:
        """``Name <email>`` of a commit's ``author`` or ``committer``, resolved as git does
        (``git var GIT_AUTHOR_IDENT``): the environment (``GIT_AUTHOR_NAME``...) first,
        then ``author.name`` (``committer.name``), then ``user.name``, then for the email
        ``EMAIL``; else a neutral identity."""
        upper = role.upper()
        name = (
            os.environ.get(f"GIT_{upper}_NAME")
            or self.config_value(role, "name")
            or self.config_value("user", "name")
        )
        email = (
            os.environ.get(f"GIT_{upper}_EMAIL")
            or self.config_value(role, "email")
            or self.config_value("user", "email")
            or os.environ.get("EMAIL")
        )
        return f"{name or 'gitexp'} <{email or 'gitexp@localhost'}>".encode()
