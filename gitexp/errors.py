"""The one exception family gitexp raises for problems a user can fix.

Every message names the problem; ``hint`` names the next step.  The CLI turns a
:class:`GitexpError` into ``gitexp: error: <message>`` plus the hint on stderr and
exits with ``exit_code``.  The codes are documented in ``docs/cli.md``.
"""

from __future__ import annotations

# Exit codes (documented in docs/cli.md).  1 is left to the commands' own "no" answers
# (for example ``gitexp rerun`` reporting a different result), 130 is Ctrl-C.
EXIT_USAGE = 2  # bad command line: missing command after --, -p without '=', ...
EXIT_NOT_A_REPO = 3  # not inside a git work tree
EXIT_CONFIG = 4  # config file missing or invalid
EXIT_UNKNOWN_RUN = 5  # run reference matches nothing, or more than one run
EXIT_REPO_STATE = 6  # the repository or workspace is in a state gitexp will not touch
EXIT_FORMAT = 7  # a run written by a newer gitexp, or corrupted run metadata
EXIT_RERUN_FAILED = 8  # gitexp rerun: the rerun's command failed (no verdict)
EXIT_TRANSFER = 9  # push, pull, gc, restore, rm --remote: something did not move (see report)
EXIT_INTERNAL = 70  # a bug in gitexp (EX_SOFTWARE)


class GitexpError(Exception):
    """A problem the user can act on."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  {self.hint}"


class UsageError(GitexpError):
    exit_code = EXIT_USAGE


class NotARepositoryError(GitexpError):
    exit_code = EXIT_NOT_A_REPO


class ConfigError(GitexpError):
    exit_code = EXIT_CONFIG


class UnknownRunError(GitexpError):
    exit_code = EXIT_UNKNOWN_RUN


class RepositoryStateError(GitexpError):
    exit_code = EXIT_REPO_STATE


class FormatError(GitexpError):
    exit_code = EXIT_FORMAT


class TransferError(GitexpError):
    """A push, fetch or artifact transfer failed (after a report of what did move)."""

    exit_code = EXIT_TRANSFER
