"""The sentinel: a witness, in ``gitexp run``'s process group, of signals sent to the group.

The sentinel answers one question for the wrapper's signal handler: was this signal
sent to the whole process group (the command got its own copy: forwarding would
deliver it twice) or to the wrapper alone (``kill PID``: the command must get it from
the wrapper)?  ``kill()`` gives both the same sender and code, and a handler cannot see
what the command already took, so a witness decides: a group signal also reaches the
sentinel, where it stays pending (blocked), visible in ``/proc/<pid>/status``.

record/keeper.py draws all the processes of a run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from gitexp.record.keeper import STOP_SIGNALS, close_all

SENTINEL_POLL = 0.005  # seconds between two looks at the sentinel's pending signals


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
            close_all((read, write))
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
        close_all((old_lifeline,))
        with contextlib.suppress(OSError):
            os.kill(old_pid, signal.SIGKILL)
            os.waitpid(old_pid, 0)

    def release(self) -> None:
        """Let the sentinel exit (it does once its pipe closes): called when the command
        has ended, so that it exits while the run is finalized rather than after."""
        close_all(self.fds())
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
