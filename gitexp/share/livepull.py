"""Live from anywhere, the watching side: a remote's runs pulled again and again.

``gitexp pull --watch`` pulls in the foreground and prints what moved; ``gitexp ui
--pull`` pulls in a thread of the server, so that teammates' runs (pushed while they
train: share/livepush.py) appear and grow in the dashboard without a restart.  Both go
through :func:`gitexp.share.pull.pull_runs`, so each round is an ordinary ``gitexp
pull``: the same validation, quarantine and fast-forward-only policy.  A round that
fails (the network is down, the remote is gone) costs one warning per streak of
failures and is tried again at the next interval; it never ends the watch or the server.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable

from gitexp.errors import GitexpError
from gitexp.share.pull import pull_runs
from gitexp.share.remotes import SyncReport

Say = Callable[[str], None]
DEFAULT_EVERY = 60.0  # seconds between two rounds
_USERINFO = re.compile(r"//[^/@]*@")  # user:token@ in https://user:token@host/repo


class LivePull:
    """Rounds of ``gitexp pull`` from one remote, in the foreground or in a thread.

    ``guard`` is held while a round changes this repository's refs (not while it
    fetches), so that a reader holding it (the ui's request) never sees half a round."""

    def __init__(
        self,
        root: str,
        remote: str,
        every: float,
        say: Say,
        runs: list[str] | None = None,
        dvc_remote: str | None = None,
        artifacts: bool = True,
        guard: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
        quiet: bool = False,
    ) -> None:
        self.root, self.remote, self.every, self.say = root, remote, every, say
        self.quiet = quiet  # git's own progress and messages kept off the terminal
        self.runs, self.dvc_remote, self.artifacts, self.guard = runs, dvc_remote, artifacts, guard
        self.last_pulled: float | None = None  # time.time() of the last round that worked
        self.error: str | None = None  # why the last round failed; None when it worked
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pull_once(self) -> SyncReport | None:
        """One round; its report, or None when it failed (warned once per streak)."""
        try:
            report = pull_runs(
                self.root,
                self.remote,
                self.runs,
                self.dvc_remote,
                self.artifacts,
                updating=self.guard,
                quiet=self.quiet,
            )
        except (GitexpError, OSError) as exc:
            why = str(getattr(exc, "message", None) or exc)
        except Exception as exc:  # a bug: reported, and the next round tries again
            why = f"internal error: {exc!r}"
        else:
            if self.error is not None:
                self.say(f"pulling from {self.remote} works again")
            self.error, self.last_pulled = None, time.time()
            return report
        if self.error is None:
            self.say(f"warning: {why}; trying again every {self.every:g}s")
        self.error = why
        return None

    def watch(self, each: Callable[[SyncReport], None]) -> None:
        """Pull now and every ``every`` seconds until :meth:`stop`; ``each`` gets every
        report of a round that worked."""
        while True:
            report = self.pull_once()
            if report is not None:
                each(report)
            if self._stop.wait(self.every):
                return

    def start(self) -> None:
        """Watch in a daemon thread (the ui's): nothing it meets ends the process."""
        self._thread = threading.Thread(
            target=self.watch, args=(lambda _report: None,), name="gitexp-live-pull", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def state(self) -> dict[str, object]:
        """What the ui's page says about the pulling: the remote, when, and what failed."""
        return {
            "remote": _USERINFO.sub("//", self.remote),  # no token of a URL on the page
            "every": self.every,
            "last_pulled": self.last_pulled,
            "error": _USERINFO.sub("//", self.error) if self.error else None,
        }
