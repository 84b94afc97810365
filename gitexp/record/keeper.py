"""Who starts the command of ``gitexp run``, who stops it, and who outlives the wrapper.

The processes of one run::

    gitexp run            the wrapper: records, forwards signals, finalizes
    ├── sentinel          same process group; holds SIGINT, SIGTERM, SIGHUP blocked
    └── keeper            a session of its own: the command's parent, its output's copier
        └── the command   in the process group gitexp run was started in

The command stays in the wrapper's process group, so whatever stops that group --
Ctrl-C at a terminal, ``timeout``, ``kill -- -PGID``, a batch scheduler cancelling the
job -- stops the training too.  Only the keeper leaves the group: it must outlive a
wrapper killed with SIGKILL, so that the run is finalized with the command's real exit
status, and so that the command's output keeps a reader (a training
process is never hit by a broken pipe, and its output keeps reaching the live log).
It is the command's parent for the same reason (only a parent learns how a process
ended); it starts the command while still in the wrapper's group (a process may only
join a group of its own session), then leaves with ``setsid``.  Once the command ended
and the wrapper finalized the run (or died before it could, and then the keeper
finalizes it from the live folder), and the command's output ended, the keeper exits.
One process does both jobs because each fork of the wrapper costs every run about a
millisecond of start-up (and as much again in copied pages while both live).

The sentinel tells the wrapper whether a signal was sent to its whole group or to it
alone (record/sentinel.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable

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
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OUTCOME = "outcome.json"  # how the command ended, written by the keeper (live folder)
INTERRUPTED_MARK = "interrupted"  # the wrapper was asked to stop (live folder)
# Written by a sweep before it stops a trial its pruner gave up on (sweep/trials.py).
PRUNED_MARK = "pruned"
# Written by a trial's job when its scheduler stops it (sweep/slurm.py).
PREEMPTED_MARK = "preempted"
# How long a keeper whose wrapper died waits for the rest of the command's output (a
# process the command started may hold its pipes) before it finalizes the run.
OUTPUT_GRACE_SECONDS = 2.0


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


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# -- the output copy -----------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# The log gets whole lines of each pipe: stdout and stderr share it, and a line cut by
# the other pipe's output would split a token the scrubbing must see whole
# (model/output.py).  An unfinished line waits for its end, the pipe's end, or this size.
LINE_LIMIT = 1 << 16


def _whole_lines(pending: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(what to log now, what waits for the end of its line)."""
    joined = pending + data
    end = max(joined.rfind(b"\n"), joined.rfind(b"\r")) + 1
    if len(joined) - end > LINE_LIMIT:
        end = len(joined)
    return joined[:end], joined[end:]


def copy_output(pipes: dict[int, int], log_path: str) -> None:
    """Copy each pipe as its output arrives; whole lines into the log (docs/format.md).

    Lines of the two pipes reach the log in the order they were read.  Two pipes keep
    no order between them: when both hold output at one wake-up, stdout's lines go
    first, as nothing says which was printed first.
    """
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:  # the live folder gone or full: the terminal still gets the output
        log_fd = os.open(os.devnull, os.O_WRONLY)
    targets: dict[int, int | None] = dict(pipes)
    pending = dict.fromkeys(pipes, b"")
    waiting = selectors.DefaultSelector()  # epoll: no limit on the descriptors' numbers
    for fd in pipes:
        waiting.register(fd, selectors.EVENT_READ)
    while targets:
        for key, _events in waiting.select():
            fd = int(key.fd)
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                waiting.unregister(fd)
                os.close(fd)
                del targets[fd]
                with contextlib.suppress(OSError):
                    _write_all(log_fd, pending.pop(fd))
                continue
            out = targets[fd]
            if out is not None:
                try:
                    _write_all(out, data)
                except OSError:
                    targets[fd] = None  # the terminal went away: keep logging
            logged, pending[fd] = _whole_lines(pending[fd], data)
            with contextlib.suppress(OSError):  # disk full: the terminal still gets it
                _write_all(log_fd, logged)


# -- the keeper ----------------------------------------------------------------------------


class Keeper:
    """The wrapper's side of the keeper: what it reports, and the word that the run is done."""

    def __init__(self, pid: int, report: int, hold: int) -> None:
        self.pid = pid
        # keeper -> wrapper: "pid N" or "error ERRNO TEXT", then "exit CODE" and "copied"
        # (the command's output ended), these two in either order.
        self.report = report
        self.hold = hold  # wrapper -> keeper: "done" once finalized; EOF alone: wrapper died
        self._buffer = b""
        self._copied = False
        self._gone = False  # the report pipe ended: the keeper died (or exited)

    def _line(self, timeout: float | None = None) -> str | None:
        """The next report line; None when the keeper is gone or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self._gone:
                return None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.report], [], [], left)[0]:
                    return None
            chunk = os.read(self.report, 4096)  # retried after a signal handler (PEP 475)
            if not chunk:
                self._gone = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        text = line.decode()
        if text == "copied":
            self._copied = True
        return text

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
        while True:
            line = self._line()
            if line is None:
                return None
            if line.startswith("exit "):
                return int(line.split()[1])

    def copied(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the command's output to be in the live log: it is
        once every process holding the output pipes closed them (the command ended,
        and nothing it started keeps them); after that the keeper copies alone."""
        deadline = time.monotonic() + timeout
        while not self._copied and not self._gone:
            if self._line(max(0.0, deadline - time.monotonic())) is None and (
                time.monotonic() >= deadline
            ):
                return

    def release(self) -> None:
        """The run is finalized: the keeper may exit."""
        with contextlib.suppress(OSError):
            os.write(self.hold, b"done\n")
        close_all((self.hold, self.report))
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


def start_keeper(
    command: list[str],
    env: dict[str, str],
    outputs: tuple[int, int],
    copy: dict[int, int],
    log_path: str,
    live: LiveDir,
    root: str,
    close: tuple[int, ...] = (),
) -> Keeper:
    """Fork the keeper, which starts ``command`` with stdout and stderr on ``outputs``
    (the pipes' write ends) and copies ``copy`` (``{read end: terminal fd}``) to the
    terminal and to ``log_path`` (:func:`copy_output`).

    Call before starting any thread (fork copies only the calling thread).  ``close``:
    descriptors of the wrapper the keeper must not hold.
    """
    report_read, report_write = os.pipe()
    hold_read, hold_write = os.pipe()
    pid = os.fork()
    if pid:
        close_all((report_write, hold_read))
        return Keeper(pid, report_read, hold_write)
    try:
        _quiet_signals()
        close_all((report_read, hold_write, *close))
        _keep(command, env, outputs, copy, log_path, report_write, hold_read, live, root)
    finally:
        os._exit(0)


def _send(fd: int, line: str) -> None:
    with contextlib.suppress(OSError):  # the wrapper is gone: the keeper goes on alone
        os.write(fd, line.encode() + b"\n")


def _keep(
    command: list[str],
    env: dict[str, str],
    outputs: tuple[int, int],
    copy: dict[int, int],
    log_path: str,
    report: int,
    hold: int,
    live: LiveDir,
    root: str,
) -> None:
    try:
        child = subprocess.Popen(command, stdout=outputs[0], stderr=outputs[1], env=env)
    except OSError as exc:
        _send(report, f"error {exc.errno or 0} {exc.strerror or exc}")
        child = None
    finally:
        close_all(outputs)  # the output ends when the command (and what it started) ends
    if child is not None:
        _send(report, f"pid {child.pid}")
        # The command is in the wrapper's group now; the keeper leaves it (and the
        # terminal), so that nothing sent to the group or the terminal stops it before
        # the run is final.
        os.setsid()
    copied = threading.Event()
    waiter = None
    if child is not None:
        waiter = threading.Thread(
            target=_wait_and_finalize, args=(child, report, hold, live, root, copied)
        )
        waiter.start()
    try:
        copy_output(copy, log_path)
    except Exception:  # never the command's end with it: the waiter still reports that
        pass
    finally:
        copied.set()
        _send(report, "copied")
    if waiter is not None:
        waiter.join()


def _wait_and_finalize(
    child: subprocess.Popen[bytes],
    report: int,
    hold: int,
    live: LiveDir,
    root: str,
    copied: threading.Event,
) -> None:
    """The keeper's second thread: the command's end, reported; the run's, awaited."""
    returncode = child.wait()
    ended = time.time()
    _send(report, f"exit {returncode}")
    if _released(hold):
        return
    # The wrapper died before it finalized the run: write down how the command ended
    # (any later gitexp command can use it) and finalize in a fresh process, which
    # opens the repository anew rather than use the copy forked from the wrapper --
    # once the command's last output is in the log, or the grace period is over.
    copied.wait(OUTPUT_GRACE_SECONDS)
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
