"""Supervising a recorded command: spawn it, copy its output, checkpoint, finalize.

Used by ``gitexp run`` and ``gitexp rerun``.  The command runs in the process group
``gitexp run`` was started in, as the child of a keeper that outlives the wrapper
(record/keeper.py has the picture).  Signals: one sent to the whole group (Ctrl-C at a
terminal, ``kill -- -PGID``, ``timeout``, a scheduler cancelling the job) reaches the
command directly and is not forwarded; SIGINT, SIGTERM or SIGHUP sent to ``gitexp run``
alone is forwarded once.  Either way the run is finalized as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from gitexp.model.ids import short_id
from gitexp.model.record import CRASHED, FAILED
from gitexp.record.envvars import ENV_CONFIG, ENV_LIVE_DIR, ENV_RUN_ID
from gitexp.record.keeper import (
    INTERRUPTED_MARK,
    OUTPUT_GRACE_SECONDS,
    STOP_SIGNALS,
    outcome,
    pruned_or,
    start_keeper,
)
from gitexp.record.live import LiveDir, pid_alive, process_start
from gitexp.record.recorder import Recorder
from gitexp.record.sentinel import Sentinel, start_sentinel
from gitexp.record.snapshot import SkippedFile
from gitexp.record.starting import SLOW_FACTS_WAIT, collect_slow_facts, start_background
from gitexp.record.sysmetrics import STARTUP_GRACE_SECONDS, start_sampler
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType


EXIT_COMMAND_NOT_FOUND = 127
# A signal sent to us alone is forwarded only after this long without a copy of it
# reaching the group; a copy coming this soon after the command got one is dropped.
GROUP_COPY_WAIT = 0.25  # seconds
COALESCE_SECONDS = 0.5
EXIT_KEEPER_LOST = 1  # the keeper was killed: the command's own exit code is unknown
SWITCH_INTERVAL = 0.0005  # seconds; see supervise()


def supervise(
    recorder: Recorder,
    command: list[str],
    config: dict[str, object],
    skipped: list[SkippedFile],
    say: Callable[[str], None],
    system_metrics: bool = True,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run ``command`` as the run's process; return the exit code ``gitexp run`` exits with.

    ``on_started()`` is called once the command runs and the keeper is forked:
    from then on a thread may start processes of its own (share/livepush.py).
    """
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
    # Handlers before any helper exists: a stop signal from now on is never lost.
    signals = _SignalState(live)
    sentinel = start_sentinel()  # before the pipes: it must hold none of them
    helper_fds = sentinel.fds() if sentinel else ()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    keeper = start_keeper(
        command,
        env,
        (out_write, err_write),
        {out_read: sys.stdout.fileno(), err_read: sys.stderr.fileno()},
        live.file("output.log"),
        live,
        recorder.repo.root,
        close=helper_fds,
    )
    for fd in (out_read, out_write, err_read, err_write):
        os.close(fd)
    # The fork is done: the manifest can be collected while the keeper starts the
    # command (a short command ends before it is done, and the run waits for it).
    facts = start_background(lambda: collect_slow_facts(recorder, skipped), "gitexp-manifest")
    started = keeper.started()
    if isinstance(started, OSError):
        signals.restore(sentinel)
        facts.join(timeout=SLOW_FACTS_WAIT)
        keeper.copied(OUTPUT_GRACE_SECONDS)
        with open(live.file("output.log"), "a", encoding="utf-8") as log:
            log.write(f"gitexp: could not start {command[0]}: {started.strerror}\n")
        recorder.finalize(FAILED, EXIT_COMMAND_NOT_FOUND)
        keeper.release()
        say(f"error: could not start {command[0]!r}: {started.strerror}")
        say("  Check the command after -- (is it installed and on PATH?).")
        return EXIT_COMMAND_NOT_FOUND
    child_pid = started
    # The pid first, then the claim: once owner.json names the child, a signal sent to
    # gitexp is forwarded (tests and schedulers may act as soon as they read it).
    signals.attach(child_pid, sentinel)
    live.claim(child_pid=child_pid, keeper_pid=keeper.pid)
    if on_started is not None:
        on_started()
    # The threads that wait first, the busy one last: a thread starting while another
    # holds the GIL waits for it (up to the 5 ms switch interval) before it runs.
    stop = threading.Event()
    start_background(lambda: _checkpoints(recorder, stop, say), "gitexp-checkpoint")
    sampler = None
    if system_metrics:
        last = recorder.system.last_step  # a resumed run's samples go on after its last one
        first = 0 if last is None else last + 1
        sampler = start_sampler(
            live.file("system.jsonl"), recorder.info.start, child_pid, first, STARTUP_GRACE_SECONDS
        )
    returncode = keeper.wait()
    if sentinel is not None:  # the command is gone: the witness may exit while we finalize
        sentinel.release()
    if returncode is None:  # someone killed the keeper: the exit status is lost with it
        _wait_gone(child_pid, process_start(child_pid))
    stop.set()
    if sampler is not None:
        sampler.stop()
    keeper.copied(OUTPUT_GRACE_SECONDS)
    facts.join(timeout=SLOW_FACTS_WAIT)
    if returncode is None:
        status, exit_code, signal_name = CRASHED, EXIT_KEEPER_LOST, None
    else:
        status, exit_code, signal_name = outcome(returncode, signals.interrupted)
        status = pruned_or(status, live)
    try:
        recorder.finalize(status, None if returncode is None else exit_code, signal_name)
    except OSError as exc:
        # A full disk at the very end: the live folder still holds everything, and the
        # next gitexp command (with space) finalizes the run from it.
        say(f"error: could not write the final commit: {exc.strerror or exc}")
        say("  Free disk space; the next gitexp command finalizes this run as crashed.")
        return exit_code
    finally:
        # Our handlers stay until the run is final: a late signal must not cut the final
        # commit short.  Then the keeper may exit: its run is final (or left, on a full
        # disk, to the next command).
        signals.restore(sentinel)
        keeper.release()
    info = recorder.info
    say(
        f"run {info.name} ({short_id(info.id)}) {status} in {info.duration or 0:.1f}s: "
        f"refs/gitexp/runs/{info.id}"
    )
    return exit_code


def _checkpoints(recorder: Recorder, stop: threading.Event, say: Callable[[str], None]) -> None:
    while not stop.wait(1.0):
        try:
            recorder.checkpoint()
        except Exception as exc:
            say(f"warning: could not write a checkpoint: {exc}")


def _wait_gone(pid: int, start: str | None) -> None:
    while pid_alive(pid, start):
        time.sleep(0.2)


class _SignalState:
    """SIGINT, SIGTERM, SIGHUP: let the command stop, then finalize the run as interrupted."""

    def __init__(self, live: LiveDir) -> None:
        self.live = live
        self.interrupted = False
        self.child_pid: int | None = None
        self.sentinel: Sentinel | None = None
        self.unsent: list[int] = []  # sent to us alone before the command's pid was known
        self.delivered: dict[int, float] = {}  # signal -> when the command last got it
        self.previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        for signum, handler in self.previous.items():
            if handler != signal.SIG_IGN:  # nohup: a hangup stops neither us nor the command
                signal.signal(signum, self._handle)

    def attach(self, child_pid: int, sentinel: Sentinel | None) -> None:
        self.child_pid, self.sentinel = child_pid, sentinel
        for signum in self.unsent:
            self._forward(signum)
            self.delivered[signum] = time.monotonic()

    def restore(self, sentinel: Sentinel | None) -> None:
        """Put the handlers back (``gitexp rerun`` goes on after) and end the sentinel."""
        for signum, handler in self.previous.items():
            if handler != signal.SIG_IGN:
                signal.signal(signum, handler)
        if sentinel is not None:
            sentinel.stop()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if not self.interrupted:
            self.interrupted = True
            # The keeper reads it if we die before the end.
            with contextlib.suppress(OSError), open(self.live.file(INTERRUPTED_MARK), "w"):
                pass
        if self._reached_command(signum):
            self.delivered[signum] = time.monotonic()
            return
        if time.monotonic() - self.delivered.get(signum, -COALESCE_SECONDS) < COALESCE_SECONDS:
            # The command got this signal a moment ago: this copy is the same request
            # (``timeout`` signals us, then our group; the second copy to us comes after).
            return
        if self.child_pid is None:
            self.unsent.append(signum)
        else:
            self._forward(signum)
            self.delivered[signum] = time.monotonic()

    def _reached_command(self, signum: int) -> bool:
        """Whether the command got this signal itself, sent to our whole process group.

        The command shares our group unless it left it (``setsid`` in a launcher); then
        a group signal never reached it and is forwarded.  Whether the signal was sent
        to the group or to us alone, the sentinel tells (record/keeper.py), given a
        moment for a group copy that follows one sent to us; without a sentinel (no
        ``/proc``), a terminal's keys are taken as group-wide (they are), and anything
        else as sent to us alone.
        """
        if self.child_pid is not None:
            with contextlib.suppress(OSError):
                if os.getpgid(self.child_pid) != os.getpgrp():
                    return False
        seen = self.sentinel.saw(signum, GROUP_COPY_WAIT) if self.sentinel is not None else None
        if seen is None:
            return signum != signal.SIGTERM and terminal_foreground()
        return seen

    def _forward(self, signum: int) -> None:
        if self.child_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signum)


def terminal_foreground() -> bool:
    """True when this process is in its terminal's foreground group (Ctrl-C hits us all)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
