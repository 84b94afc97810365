"""Who starts the command of ``gitexp run``, who stops it, and who outlives the wrapper.

The processes of one run::

    gitexp run            the wrapper: records, forwards signals, finalizes
    ├── sentinel          same process group; holds SIGINT, SIGTERM, SIGHUP blocked
    ├── output copier     a session of its own (record/tee.py)
    └── keeper            a session of its own: the command's parent
        └── the command   in the process group gitexp run was started in

The command stays in the wrapper's process group, so whatever stops that group --
Ctrl-C at a terminal, ``timeout``, ``kill -- -PGID``, a batch scheduler cancelling the
job -- stops the training too.  Only the keeper leaves the group: it must outlive a
wrapper killed with SIGKILL, so that the run is finalized with the command's real exit
status.  It is the command's parent for the same reason (only a parent learns how a
process ended); it starts the command while still in the wrapper's group (a process
may only join a group of its own session), then leaves with ``setsid``.  Once the
command ended and the wrapper finalized the run (or died before it could, and then
the keeper finalizes it from the live folder), the keeper exits.

The sentinel answers one question for the wrapper's signal handler: was this signal
sent to the whole process group (the command got its own copy: forwarding would
deliver it twice) or to the wrapper alone (``kill PID``: the command must get it from
the wrapper)?  ``kill()`` gives both the same sender and code, and a handler cannot see
what the command already took, so a witness decides: a group signal also reaches the
sentinel, where it stays pending (blocked), visible in ``/proc/<pid>/status``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any

from gitexp.git.repo import GitRepo
from gitexp.model.record import (
    CRASHED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    KILLED,
    PREEMPTED,
    PRUNED,
    RUNNING,
    STATUSES,
)
from gitexp.record.live import LiveDir, list_live

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OUTCOME = "outcome.json"  # how the command ended, written by the keeper (live folder)
INTERRUPTED_MARK = "interrupted"  # the wrapper was asked to stop (live folder)
# Written by a sweep before it stops a trial its pruner gave up on (sweep/trials.py).
PRUNED_MARK = "pruned"
# Written by a trial's job when its scheduler stops it (sweep/slurm.py).
PREEMPTED_MARK = "preempted"
SENTINEL_POLL = 0.005  # seconds between two looks at the sentinel's pending signals


def outcome(returncode: int, interrupted: bool) -> tuple[str, int, str | None]:
    """(status, exit code, signal name) of a command that ended with ``returncode``."""
    if returncode < 0:
        signum = -returncode
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else None
        if interrupted or signum in (signal.SIGINT, signal.SIGTERM):
            return INTERRUPTED, 128 + signum, name
        return KILLED, 128 + signum, name
    if interrupted:
        return INTERRUPTED, returncode, None
    return (FINISHED if returncode == 0 else FAILED), returncode, None


def pruned_or(status: str, live: LiveDir) -> str:
    """``pruned`` for a trial its sweep stopped, ``preempted`` for one its scheduler
    stopped (the marks say so), else ``status``.

    Both end like an interrupted run (SIGTERM); the marks tell them apart, and only an
    interrupted run can have been stopped so (it may have finished meanwhile).  A trial
    pruned and then preempted stays pruned: the sweep had decided before the scheduler.
    """
    if status == INTERRUPTED and os.path.exists(live.file(PRUNED_MARK)):
        return PRUNED
    if status == INTERRUPTED and os.path.exists(live.file(PREEMPTED_MARK)):
        return PREEMPTED
    return status


def _quiet_signals() -> None:
    """Stop signals do nothing to a helper, yet reach the command with their defaults.

    A handler (not SIG_IGN) is reset by exec, so the command starts with the usual
    dispositions; a signal ignored when gitexp started (``nohup``) stays ignored, for
    the command as well.
    """
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _nothing)


def _nothing(_signum: int, _frame: object) -> None:
    return None


def _close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# -- the keeper ----------------------------------------------------------------------------


class Keeper:
    """The wrapper's side of the keeper: what it reports, and the word that the run is done."""

    def __init__(self, pid: int, report: int, hold: int) -> None:
        self.pid = pid
        self.report = report  # keeper -> wrapper: "pid N", "error ERRNO TEXT", "exit CODE"
        self.hold = hold  # wrapper -> keeper: "done" once finalized; EOF alone: wrapper died
        self._buffer = b""

    def fds(self) -> tuple[int, int]:
        """What a process forked later must close (or the keeper never sees us die)."""
        return self.report, self.hold

    def _line(self) -> str | None:
        while b"\n" not in self._buffer:
            chunk = os.read(self.report, 4096)  # retried after a signal handler (PEP 475)
            if not chunk:
                return None  # the keeper died
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def started(self) -> int | OSError:
        """The command's pid, or why it could not start."""
        line = self._line() or "error 0 the keeper process died"
        word, _, rest = line.partition(" ")
        if word == "pid":
            return int(rest)
        number, _, text = rest.partition(" ")
        return OSError(int(number), text)

    def wait(self) -> int | None:
        """The command's return code (``-N``: signal N); None if the keeper died first."""
        line = self._line()
        if line is None or not line.startswith("exit "):
            return None
        return int(line.split()[1])

    def release(self) -> None:
        """The run is finalized: the keeper may exit."""
        with contextlib.suppress(OSError):
            os.write(self.hold, b"done\n")
        _close_all((self.hold, self.report))
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


def start_keeper(
    command: list[str],
    env: dict[str, str],
    outputs: tuple[int, int],
    live: LiveDir,
    root: str,
    close: tuple[int, ...] = (),
) -> Keeper:
    """Fork the keeper, which starts ``command`` with stdout and stderr on ``outputs``.

    Call before starting any thread (fork copies only the calling thread).  ``close``:
    descriptors of the wrapper the keeper must not hold.
    """
    report_read, report_write = os.pipe()
    hold_read, hold_write = os.pipe()
    pid = os.fork()
    if pid:
        _close_all((report_write, hold_read))
        return Keeper(pid, report_read, hold_write)
    try:
        _quiet_signals()
        _close_all((report_read, hold_write, *close))
        _keep(command, env, outputs, report_write, hold_read, live, root)
    finally:
        os._exit(0)


def _send(fd: int, line: str) -> None:
    with contextlib.suppress(OSError):  # the wrapper is gone: the keeper goes on alone
        os.write(fd, line.encode() + b"\n")


def _keep(
    command: list[str],
    env: dict[str, str],
    outputs: tuple[int, int],
    report: int,
    hold: int,
    live: LiveDir,
    root: str,
) -> None:
    try:
        child = subprocess.Popen(command, stdout=outputs[0], stderr=outputs[1], env=env)
    except OSError as exc:
        _send(report, f"error {exc.errno or 0} {exc.strerror or exc}")
        return
    finally:
        _close_all(outputs)  # the copier sees the end of the output when the command ends
    _send(report, f"pid {child.pid}")
    # The command is in the wrapper's group now; the keeper leaves it (and the terminal),
    # so that nothing sent to the group or the terminal stops it before the run is final.
    os.setsid()
    returncode = child.wait()
    ended = time.time()
    _send(report, f"exit {returncode}")
    if _released(hold):
        return
    # The wrapper died before it finalized the run: write down how the command ended
    # (any later gitexp command can use it) and finalize in a fresh process, which
    # opens the repository anew rather than use the copy forked from the wrapper.
    status, code, name = outcome(returncode, os.path.exists(live.file(INTERRUPTED_MARK)))
    status = pruned_or(status, live)
    ended_as = {"status": status, "exit_code": code, "signal": name, "end": ended}
    with contextlib.suppress(OSError):
        live.write_json(OUTCOME, ended_as)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [sys.executable, "-m", "gitexp.record.keeper", root, live.path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            check=False,
        )


def _released(hold: int) -> bool:
    """Wait until the wrapper says the run is final (True) or dies before that (False)."""
    said = b""
    while True:
        try:
            chunk = os.read(hold, 64)
        except OSError:
            return False
        if not chunk:
            return b"done" in said
        said += chunk


# -- the sentinel --------------------------------------------------------------------------


class Sentinel:
    """A process in the wrapper's group that tells whether a signal reached the group.

    It is ``cat`` reading a pipe only the wrapper writes to, started with the stop
    signals blocked (a signal mask survives exec), so a signal sent to the group stays
    pending there; it exits when the pipe closes, with the wrapper or at the end.  A
    program spawned rather than a Python process forked: the wrapper's start-up waits
    ~0.1 ms for ``posix_spawn`` instead of ~1 ms for a fork of itself (and as long
    again for that fork to exit at the end), on every run.
    """

    def __init__(self, program: str) -> None:
        self.program = program
        self.pid, self.lifeline = self._spawn()

    def _spawn(self) -> tuple[int, int]:
        read, write = os.pipe()  # not inheritable: only the sentinel's stdin survives exec
        try:
            pid = os.posix_spawn(
                self.program,
                [self.program],
                {},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsigmask=STOP_SIGNALS,
            )
        except OSError:
            _close_all((read, write))
            raise
        os.close(read)
        return pid, write

    def fds(self) -> tuple[int, ...]:
        return (self.lifeline,) if self.lifeline >= 0 else ()

    def _pending(self) -> set[int] | None:
        try:
            with open(f"/proc/{self.pid}/status", "rb") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return None
        mask = 0
        for line in lines:
            if line.startswith((b"SigPnd:", b"ShdPnd:")):
                mask |= int(line.split()[1], 16)
        return {number for number in range(1, 65) if mask >> (number - 1) & 1}

    def saw(self, signum: int, wait: float) -> bool | None:
        """Whether ``signum`` reached the sentinel too (None: it cannot tell).

        A group signal is queued for every member within the one ``kill()`` call, so it
        is usually pending here by the time a handler asks.  ``wait``: how long to keep
        looking, for senders that signal the wrapper first and its group a moment later
        (``timeout`` does).
        """
        deadline = time.monotonic() + wait
        while True:
            pending = self._pending()
            if pending is None:
                return None
            if signum in pending:
                self._take(signum, pending)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(SENTINEL_POLL)

    def _take(self, signum: int, pending: set[int]) -> None:
        """Replace the sentinel, so the next group signal shows anew (a blocked signal
        stays pending: this one cannot forget it).

        The new one starts before the old one goes, so a group signal meanwhile reaches
        at least one of them, and it is given the other signals pending in the old one:
        each is the witness for a handler of ours that has not run yet.
        """
        if self.lifeline < 0:
            return  # released: the command has ended, no later signal needs a witness
        try:
            pid, lifeline = self._spawn()
        except OSError:
            return  # keep the old one: it will answer True for this signal again
        for other in pending - {signum}:
            with contextlib.suppress(OSError):
                os.kill(pid, other)
        old_pid, old_lifeline = self.pid, self.lifeline
        self.pid, self.lifeline = pid, lifeline
        _close_all((old_lifeline,))
        with contextlib.suppress(OSError):
            os.kill(old_pid, signal.SIGKILL)
            os.waitpid(old_pid, 0)

    def release(self) -> None:
        """Let the sentinel exit (it does once its pipe closes): called when the command
        has ended, so that it exits while the run is finalized rather than after."""
        _close_all(self.fds())
        self.lifeline = -1  # closed once: the number may soon name another file

    def stop(self) -> None:
        """End the sentinel and wait for it (a few milliseconds at most), so that nothing
        of gitexp's stays in the caller's process group after gitexp run exits: a job
        runner waiting for the group to empty, or ``timeout``, sees it end with the run."""
        self.release()
        deadline = time.monotonic() + 1.0
        with contextlib.suppress(ChildProcessError, OSError):
            while not os.waitpid(self.pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:  # stuck: it must not hold the run up
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.0005)


def start_sentinel() -> Sentinel | None:
    """Start the sentinel; None where it cannot work (no ``/proc``, no ``cat``)."""
    if not os.path.exists("/proc/self/status"):
        return None
    for program in ("/bin/cat", "/usr/bin/cat"):
        if os.access(program, os.X_OK):
            with contextlib.suppress(OSError):
                return Sentinel(program)
    return None


def finalize_ended(repo: GitRepo, live: LiveDir, artifacts: bool) -> bool:
    """Finalize the run of ``live``, whose recorder is gone; True if this call did.

    The status is the keeper's ``outcome.json`` (record/keeper.py) when it wrote one,
    else ``crashed``.
    """
    from gitexp.record.recorder import Recorder

    try:
        recorder = Recorder.reopen(repo, live)
    except (OSError, ValueError, KeyError):
        recorder = None
    if recorder is None:
        # Nothing running to finish: the ref is final already or was never created.
        if not live.recorder_alive():
            live.remove()
        return False
    ended = live.read_json("outcome.json")
    try:
        if _valid_outcome(ended):
            recorder.finalize(
                ended["status"], ended["exit_code"], ended["signal"], ended["end"], artifacts
            )
        else:
            recorder.finalize(CRASHED)
    except RuntimeError:
        return False  # another command finalized it first
    return True


def _valid_outcome(ended: Any) -> bool:
    return (
        isinstance(ended, dict)
        and ended.get("status") in STATUSES
        and ended.get("status") not in (RUNNING, CRASHED)
        and isinstance(ended.get("exit_code"), int)
        and isinstance(ended.get("signal"), (str, type(None)))
        and isinstance(ended.get("end"), (int, float))
    )


def recover_stale_runs(repo: GitRepo) -> list[str]:
    """Finalize every local run whose recorder, keeper and training process are gone.

    Called by every gitexp command; costs one ``listdir`` when no run is live.  A run
    whose keeper wrote down how the command ended gets that status; any other is
    ``crashed``.
    """
    recovered: list[str] = []
    for live in list_live(repo.commondir):
        if live.recorder_alive() or live.child_alive() or live.keeper_alive():
            continue
        try:
            done = finalize_ended(repo, live, artifacts=False)
        except OSError as exc:
            # No space or no permission: reading must still work; a later command retries.
            warnings.warn(
                f"gitexp: could not finalize crashed run {live.run_id}: {exc}", stacklevel=2
            )
            continue
        if done:
            recovered.append(live.run_id)
    return recovered


if __name__ == "__main__":  # the keeper's fresh process, finalizing for a dead wrapper
    with GitRepo.discover(sys.argv[1]) as _repo:
        finalize_ended(_repo, LiveDir(sys.argv[2]), artifacts=True)
