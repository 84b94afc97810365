"""Live from anywhere: a run's commits pushed while it trains (``gitexp run --push``).

Every ``--every`` seconds, a thread of the ``gitexp run`` wrapper pushes the run's
latest commit (the first one, then each checkpoint) to the remote as a fast-forward of
its ref, never forced, with nothing printed into the training's output.  A push that
fails (the network is down, the remote refuses) costs one warning and is tried again
at the next interval; training is never stopped or slowed by it.  When the command has
ended, the final commit goes through ``gitexp push``'s own path (artifacts first, then
the ref; share/push.py), tried a few times; if it still fails, the run stays here, and
``gitexp push`` sends it later.  Teammates watch it with ``gitexp pull --watch`` or
``gitexp ui --pull``.

A script that calls ``gitexp.init()`` without ``gitexp run`` pushes through the same
thread when a setting asks for it (:func:`configured`): ``init(settings={"push": ...})``,
else ``GITEXP_PUSH``, else ``git config gitexp.push``; the interval likewise from
``push_every``, ``GITEXP_PUSH_EVERY`` or ``gitexp.pushEvery``.  ``gitexp run`` without
``--push`` reads the same environment variables and git config.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitexp.errors import GitexpError, UsageError
from gitexp.git import binary as gitbin
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.record import REF_PREFIX
from gitexp.record.envvars import ENV_PUSH, ENV_PUSH_EVERY

if TYPE_CHECKING:
    from gitexp.record.recorder import Recorder

Say = Callable[[str], None]
DEFAULT_EVERY = 300.0  # seconds between two pushes of a run while it trains
FINAL_ATTEMPTS = 3
RETRY_WAIT = 2.0  # seconds between two attempts of the final push
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_every(text: str, option: str = "--every") -> float:
    """``30s``, ``5m``, ``1h`` or a number of seconds; at least one second."""
    match = _DURATION.match(text)
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"] if match else 0.0
    if seconds < 1:
        raise UsageError(
            f"{option} {text!r} is not a duration of at least 1 second",
            f"Write it as 30s, 5m or 1h, e.g. {option} 5m.",
        )
    return seconds


def check_remote(root: str, remote: str, purpose: str = "to push the run to") -> None:
    """Refuse an unknown remote name before the run starts, not with a warning per push
    (and before ``gitexp ui --pull`` serves, not with a warning per round)."""
    is_address = remote.startswith("/") or ":" in remote or remote.startswith(".")
    if not is_address and remote not in gitbin.remotes(root):
        raise UsageError(
            f"there is no git remote named {remote!r} {purpose}",
            "See them with `git remote -v`, or give a URL or path.",
        )


def configured(
    repo: GitRepo, remote: object = None, every: object = None
) -> tuple[str, float] | None:
    """The remote and interval a run pushes to while it trains, or None for no push.

    Each is taken from the first source that names it: ``remote``/``every`` (init's
    ``settings``), the environment (``GITEXP_PUSH``, ``GITEXP_PUSH_EVERY``), then git
    config (``gitexp.push``, ``gitexp.pushEvery``).  ``push=False`` or ``""`` in the
    settings turns a configured push off.  A bad interval or an unknown remote raises
    UsageError naming where it came from (the caller warns: training goes on).
    """
    if remote is False or remote == "":
        return None
    where = "settings push"
    if remote is None:
        remote, where = os.environ.get(ENV_PUSH), ENV_PUSH
    if not remote:
        remote, where = repo.config_value("gitexp", "push"), "git config gitexp.push"
    if not remote:
        return None
    if not isinstance(remote, str):
        raise UsageError(f"{where} must name a git remote or a URL, got {remote!r}")
    try:
        check_remote(repo.root, remote)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", exc.hint) from None
    option = "settings push_every"
    if every is None:
        every, option = os.environ.get(ENV_PUSH_EVERY), ENV_PUSH_EVERY
    if every is None or every == "":
        every, option = repo.config_value("gitexp", "pushEvery"), "git config gitexp.pushEvery"
    if every is None or every == "":
        return remote, DEFAULT_EVERY
    if isinstance(every, bool) or not isinstance(every, (str, int, float)):
        raise UsageError(f"{option} must be a duration such as 30s or 5m, got {every!r}")
    return remote, parse_every(str(every), option)


class LivePush:
    """The pushing thread of one run, and its final push."""

    def __init__(
        self,
        root: str,
        remote: str,
        every: float,
        run_id: str,
        head: Callable[[], ObjectId | None],
        say: Say,
    ) -> None:
        self.root, self.remote, self.every, self.run_id = root, remote, every, run_id
        self.head, self.say = head, say
        self.pushed: ObjectId | None = None
        self.failing = False  # warned once per streak of failures, not at every interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gitexp-live-push", daemon=True)

    def start(self) -> None:
        """Start pushing; call it once ``gitexp run`` started its helpers (the keeper and
        the sentinel): a helper forked while this thread starts ``git`` would inherit the
        pipe through which Python learns that git started, and hold it open for the
        whole run (record/supervise.py calls it at that point)."""
        self._thread.start()

    def _loop(self) -> None:
        self.push_once()  # the run shows on the remote from its start
        while not self._stop.wait(self.every):
            self.push_once()

    def push_once(self) -> bool:
        """Push the latest commit if it moved; whether the remote has it now."""
        sha = self.head()
        if sha is None or sha == self.pushed:
            return sha is not None
        ref = f"{REF_PREFIX.decode()}{self.run_id}"
        try:
            code, results, errors = gitbin.push_quietly(
                self.root, self.remote, [f"{sha.decode()}:{ref}"]
            )
        except (GitexpError, OSError) as exc:
            code, results, errors = 1, [], str(exc)
        if code == 0 and all(result.flag != "!" for result in results):
            self.pushed = sha
            if self.failing:
                self.say(f"live push to {self.remote} works again")
            self.failing = False
            return True
        if not self.failing:
            why = next((r.summary for r in results if r.flag == "!"), "") or _first_line(errors)
            self.say(
                f"warning: could not push the run to {self.remote} ({why or f'exit {code}'}); "
                f"trying again every {self.every:g}s, training goes on"
            )
        self.failing = True
        return False

    def finish(self) -> None:
        """Stop the thread, then push the final commit with its artifacts (retried)."""
        from gitexp.share.push import push_runs

        self._stop.set()
        if self._thread.ident is not None:  # started (the command may not have)
            self._thread.join(timeout=60)
        sha = self.head()
        if sha is None:
            return
        problem = ""
        for attempt in range(FINAL_ATTEMPTS):
            try:
                with GitRepo.discover(self.root) as repo:
                    report = push_runs(repo, self.remote, {self.run_id: sha})
                if not report.failed:
                    return
                problem = report.failed[0].error or report.failed[0].action
            except (GitexpError, OSError) as exc:
                problem = str(getattr(exc, "message", exc))
            if attempt + 1 < FINAL_ATTEMPTS:
                time.sleep(RETRY_WAIT)
        self.say(
            f"warning: the finished run did not reach {self.remote} ({problem}); it is kept "
            f"here: `gitexp push {self.remote}` sends it"
        )


def start_in_script(recorder: Recorder, remote: object, every: object, say: Say) -> LivePush | None:
    """The started pusher of an in-script run when a setting asks for one (:func:`configured`).

    A setting gitexp cannot use costs one warning and the run goes on, recorded here
    only: a typo in an environment variable must never stop a training."""
    try:
        choice = configured(recorder.repo, remote, every)
    except UsageError as exc:
        hint = f" {exc.hint}" if exc.hint else ""
        say(f"warning: not pushing the run while it trains: {exc.message}.{hint}")
        return None
    if choice is None:
        return None
    live = LivePush(
        recorder.repo.root, choice[0], choice[1], recorder.info.id, lambda: recorder.head, say
    )
    live.start()
    return live


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
