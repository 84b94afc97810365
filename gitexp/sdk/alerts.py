"""``gitexp.alert(title, text, level)``: a line in the run, a line on stderr, and an
optional command of the user's.

Each alert is appended to the live folder's ``alerts.jsonl`` (committed as
``.gitexp/alerts.jsonl``) and printed.  gitexp runs no service of its own: when
``git config gitexp.alertCommand`` names a command (``notify-send``, a script that posts
to a chat), it runs with the alert in environment variables (GITEXP_ALERT_TITLE,
GITEXP_ALERT_TEXT, GITEXP_ALERT_LEVEL, GITEXP_ALERT_RUN_ID, GITEXP_ALERT_RUN_NAME) and
as its last two arguments (title, text), split with ``shlex`` and never through a
shell, so nothing in a title can run.  A command that fails or hangs is a warning: an
alert never stops the training.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING

from gitexp.model import values

if TYPE_CHECKING:
    from gitexp.record.live import LiveDir

ALERTS_FILE = "alerts.jsonl"
LEVELS = ("INFO", "WARN", "ERROR")
COMMAND_KEY = "alertCommand"  # git config gitexp.alertCommand
COMMAND_TIMEOUT = 30.0


def level_name(level: object) -> str:
    """``"INFO"``, ``"WARN"`` or ``"ERROR"`` from a string or wandb's ``AlertLevel``."""
    text = str(getattr(level, "value", level) or "INFO").upper()
    text = {"WARNING": "WARN"}.get(text, text)
    if text not in LEVELS:
        raise ValueError(f"gitexp.alert: level must be one of {', '.join(LEVELS)}, not {level!r}")
    return text


class Alerts:
    """A run's alerts: recording, printing, forwarding, and wandb's ``wait_duration``."""

    def __init__(self, live: LiveDir | None, run_id: str, run_name: str, root: str | None) -> None:
        self.live = live
        self.run_id, self.run_name, self.root = run_id, run_name, root
        self._last: dict[str, float] = {}  # title -> when it was last sent
        self._command: list[str] | None = None
        self._command_read = False
        self._forwarding: threading.Thread | None = None

    def alert(
        self, title: str, text: str, level: object, wait_duration: float | None, step: int
    ) -> bool:
        """Record, print and forward one alert; False when ``wait_duration`` held it back."""
        name = level_name(level)
        now = time.time()
        seconds = _seconds(wait_duration)
        last = self._last.get(title)
        if seconds and last is not None and now - last < seconds:
            return False
        self._last[title] = now
        record = {"time": round(now, 3), "step": step, "level": name, "title": title, "text": text}
        if self.live is not None:
            with open(self.live.file(ALERTS_FILE), "a", encoding="utf-8") as handle:
                handle.write(values.dumps(record) + "\n")
        print(f"gitexp: alert [{name}] {title}: {text}", file=sys.stderr, flush=True)
        command = self._alert_command()
        if command:
            # The user's forwarder may take up to 30 s: it runs beside the training, never
            # in its way, one alert after the other (each thread waits for the one before);
            # not a daemon, so the script's exit still waits for it.
            before = self._forwarding

            def forward() -> None:
                if before is not None:
                    before.join()
                self._forward(command, title, text, name)

            self._forwarding = threading.Thread(target=forward, name="gitexp-alert")
            self._forwarding.start()
        return True

    def _forward(self, command: list[str], title: str, text: str, level: str) -> None:
        import subprocess

        env = dict(os.environ)
        env.update(
            GITEXP_ALERT_TITLE=title,
            GITEXP_ALERT_TEXT=text,
            GITEXP_ALERT_LEVEL=level,
            GITEXP_ALERT_RUN_ID=self.run_id,
            GITEXP_ALERT_RUN_NAME=self.run_name,
        )
        try:
            done = subprocess.run(
                [*command, title, text],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _warn(f"gitexp.alertCommand {command[0]!r} could not forward the alert: {exc}")
            return
        if done.returncode:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            _warn(
                f"gitexp.alertCommand {command[0]!r} exited {done.returncode} "
                f"({said[0][:200]}); the alert is recorded in the run"
            )

    def _alert_command(self) -> list[str] | None:
        if not self._command_read:
            self._command_read = True
            import shlex

            from gitexp.git import binary as gitbin

            try:
                value = gitbin.config_get(self.root or os.getcwd(), f"gitexp.{COMMAND_KEY}")
                self._command = shlex.split(value) if value else None
            except (ValueError, OSError, Exception) as exc:
                _warn(f"gitexp.alertCommand cannot be read: {exc}")
        return self._command


def _seconds(wait: object) -> float:
    if wait is None:
        return 0.0
    total = getattr(wait, "total_seconds", None)  # a datetime.timedelta, as wandb takes
    return float(total() if callable(total) else wait)  # type: ignore[arg-type]


def _warn(message: str) -> None:
    warnings.warn(f"gitexp: {message} (training goes on)", stacklevel=4)
