"""Supervising a recorded command: spawn it, copy its output, checkpoint, finalize.

Used by ``gitexp run`` and ``gitexp rerun``.  Signals: where gitexp runs in the
foreground of a terminal, the command shares its process group, so Ctrl-C and a hangup
reach the command directly and are not forwarded (a script never sees the same Ctrl-C
twice); SIGTERM is forwarded.  Without a terminal (batch jobs, CI, ``nohup``), the
command gets a process group of its own, so a signal sent to gitexp's group (``kill
-TERM -PGID``, a job runner cancelling) reaches the command exactly once, forwarded.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitexp.model.record import FAILED, FINISHED, INTERRUPTED, KILLED
from gitexp.record.envvars import ENV_CONFIG, ENV_LIVE_DIR, ENV_RUN_ID
from gitexp.record.recorder import Recorder
from gitexp.record.snapshot import SkippedFile
from gitexp.record.starting import SLOW_FACTS_WAIT, collect_slow_facts, start_background
from gitexp.record.sysmetrics import STARTUP_GRACE_SECONDS, start_sampler
from gitexp.record.tee import start_tee

if TYPE_CHECKING:
    from types import FrameType


EXIT_COMMAND_NOT_FOUND = 127
TEE_GRACE_SECONDS = 2.0  # how long to wait for output after the command exits
SWITCH_INTERVAL = 0.0005  # seconds; see supervise()


def supervise(
    recorder: Recorder,
    command: list[str],
    config: dict[str, object],
    skipped: list[SkippedFile],
    say: Callable[[str], None],
    system_metrics: bool = True,
) -> int:
    """Run ``command`` as the run's process; return the exit code ``gitexp run`` exits with."""
    # This process only waits and writes small files; its threads hand the GIL to each
    # other at every wake-up, which the default 5 ms switch interval would delay.
    sys.setswitchinterval(SWITCH_INTERVAL)
    live = recorder.live
    live.write_json("params.json", config)
    env = dict(os.environ)
    env[ENV_RUN_ID] = recorder.info.id
    env[ENV_LIVE_DIR] = live.path
    env[ENV_CONFIG] = live.file("params.json")
    env.setdefault("PYTHONUNBUFFERED", "1")  # output reaches the log as it is printed
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    foreground = terminal_foreground()
    try:
        child = subprocess.Popen(
            command,
            stdout=out_write,
            stderr=err_write,
            env=env,
            # No terminal: a group of its own, so group-wide signals arrive once (forwarded).
            **_own_group(not foreground),
        )
    except OSError as exc:
        for fd in (out_read, out_write, err_read, err_write):
            os.close(fd)
        with open(live.file("output.log"), "a", encoding="utf-8") as log:
            log.write(f"gitexp: could not start {command[0]}: {exc.strerror}\n")
        recorder.finalize(FAILED, EXIT_COMMAND_NOT_FOUND)
        say(f"error: could not start {command[0]!r}: {exc.strerror}")
        say("  Check the command after -- (is it installed and on PATH?).")
        return EXIT_COMMAND_NOT_FOUND
    tee_pid = start_tee(
        {out_read: sys.stdout.fileno(), err_read: sys.stderr.fileno()},
        live.file("output.log"),
        close=(out_write, err_write),
    )
    for fd in (out_read, out_write, err_read, err_write):
        os.close(fd)
    # Handlers first, then the claim: once owner.json names the child, a signal sent to
    # gitexp is forwarded (tests and schedulers may act as soon as they read it).
    signals = _SignalState(child, foreground)
    live.claim(child_pid=child.pid)
    # The threads that wait first, the busy one last: a thread starting while another
    # holds the GIL waits for it (up to the 5 ms switch interval) before it runs.
    stop = threading.Event()
    start_background(lambda: _checkpoints(recorder, stop, say), "gitexp-checkpoint")
    sampler = None
    if system_metrics:
        last = recorder.system.last_step  # a resumed run's samples go on after its last one
        first = 0 if last is None else last + 1
        sampler = start_sampler(
            live.file("system.jsonl"), recorder.info.start, child.pid, first, STARTUP_GRACE_SECONDS
        )
    facts = start_background(lambda: collect_slow_facts(recorder, skipped), "gitexp-manifest")
    returncode = child.wait()
    stop.set()
    if sampler is not None:
        sampler.stop()
    _wait_for_tee(tee_pid)
    facts.join(timeout=SLOW_FACTS_WAIT)
    status, exit_code, signal_name = _outcome(returncode, signals.interrupted)
    try:
        recorder.finalize(status, exit_code, signal_name)
    except OSError as exc:
        # A full disk at the very end: the live folder still holds everything, and the
        # next gitexp command (with space) finalizes the run from it.
        say(f"error: could not write the final commit: {exc.strerror or exc}")
        say("  Free disk space; the next gitexp command finalizes this run as crashed.")
        return exit_code
    info = recorder.info
    say(
        f"run {info.name} ({info.id[:7]}) {status} in {info.duration or 0:.1f}s: "
        f"refs/gitexp/runs/{info.id}"
    )
    return exit_code


def _own_group(wanted: bool) -> dict[str, Any]:  # Popen's keywords differ by version
    """Popen arguments that start the command in a process group of its own.

    Python 3.11's ``process_group`` lets subprocess use vfork (no copy of gitexp's
    memory map); ``preexec_fn`` forces a full fork.
    """
    if not wanted:
        return {}
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}


def _checkpoints(recorder: Recorder, stop: threading.Event, say: Callable[[str], None]) -> None:
    while not stop.wait(1.0):
        try:
            recorder.checkpoint()
        except Exception as exc:
            say(f"warning: could not write a checkpoint: {exc}")


def _wait_for_tee(pid: int) -> None:
    deadline = time.monotonic() + TEE_GRACE_SECONDS
    with contextlib.suppress(OSError, AttributeError):  # no pidfd (old kernel, not Linux)
        pidfd = os.pidfd_open(pid)
        try:  # readable when the copier exits: no polling delay
            select.select([pidfd], [], [], TEE_GRACE_SECONDS)
        finally:
            os.close(pidfd)
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.005)
    # Something the command started still holds its output; the copier goes on alone.


def _outcome(returncode: int, interrupted: bool) -> tuple[str, int, str | None]:
    if returncode < 0:
        signum = -returncode
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else None
        if interrupted or signum in (signal.SIGINT, signal.SIGTERM):
            return INTERRUPTED, 128 + signum, name
        return KILLED, 128 + signum, name
    if interrupted:
        return INTERRUPTED, returncode, None
    return (FINISHED if returncode == 0 else FAILED), returncode, None


class _SignalState:
    """SIGINT, SIGTERM, SIGHUP: let the command stop, then finalize it as interrupted."""

    def __init__(self, child: subprocess.Popen[bytes], foreground: bool) -> None:
        self.child = child
        self.foreground = foreground
        self.interrupted = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.interrupted = True
        if self.foreground and signum in (signal.SIGINT, signal.SIGHUP):
            return  # the terminal sent it to the whole foreground group, command included
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(signum)


def terminal_foreground() -> bool:
    """True when this process is in its terminal's foreground group (Ctrl-C hits us all)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
