"""A directly run script's output capture: ``sys.stdout`` and ``sys.stderr`` into output.log.

Under ``gitexp run`` the keeper copies the pipes (record/keeper.py); a script started on
its own copies its streams here.  Both streams share one log and one lock, so a line is
never cut by another thread's or the other stream's output, and lines reach the log in
the order their ends were written (docs/format.md, ``output.log``).
"""

from __future__ import annotations

import contextlib
import sys
import threading

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, TextIO


class SharedLog:
    """The log file both tees write, and the lock that orders their lines."""

    def __init__(self, path: str) -> None:
        self.file: TextIO = open(  # noqa: SIM115 - closed by OutputCapture.restore
            path, "a", encoding="utf-8", errors="replace"
        )
        self.lock = threading.Lock()
        self.write_through = False  # a forked child's lines go straight to the file

    def write(self, text: str) -> None:
        """Append ``text``; the caller holds ``lock``."""
        with contextlib.suppress(OSError, ValueError):  # a full disk must not stop print()
            self.file.write(text)
            if self.write_through:
                self.file.flush()


class Tee:
    """Mirror a text stream into the shared output log.

    The log gets whole lines: stdout and stderr share it, and a line cut by the other
    stream's output would split a token the scrubbing must see whole
    (model/output.py).  An unfinished line waits for its end, the stream's restoring,
    or ``LINE_LIMIT`` characters.
    """

    LINE_LIMIT = 1 << 16

    def __init__(self, stream: TextIO, log: SharedLog) -> None:
        self._stream = stream
        self._log = log
        self._pending: list[str] = []  # the unfinished line, in pieces (no copying)
        self._pending_size = 0

    def write(self, text: str) -> int:
        end = max(text.rfind("\n"), text.rfind("\r")) + 1
        log = self._log
        # Threads print at once: the unfinished line and the log change together.
        with log.lock:
            if not end and self._pending_size + len(text) <= self.LINE_LIMIT:
                self._pending.append(text)
                self._pending_size += len(text)
            else:
                if not end:
                    end = len(text)
                self._pending.append(text[:end])
                log.write("".join(self._pending))
                self._pending = []
                self._pending_size = 0
                if end < len(text):
                    self._pending.append(text[end:])
                    self._pending_size = len(text) - end
        return self._stream.write(text)

    def close_log(self) -> None:
        """Write the unfinished line (the stream is restored, or the run ends)."""
        with self._log.lock:
            if self._pending:
                self._log.write("".join(self._pending))
                self._pending = []
                self._pending_size = 0

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class OutputCapture:
    """The tees of one run's process, installed on ``sys.stdout`` and ``sys.stderr``."""

    def __init__(self, path: str) -> None:
        self._log = SharedLog(path)
        self._streams: list[tuple[str, TextIO]] = []
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            self._streams.append((name, stream))
            setattr(sys, name, Tee(stream, self._log))

    def flush(self) -> None:
        """Push the logged lines to the file (the periodic flush); OSError to the caller."""
        with self._log.lock:
            self._log.file.flush()

    def restore(self) -> None:
        """Put the original streams back and close the log, unfinished lines written."""
        for name, stream in self._streams:
            tee = getattr(sys, name)
            if isinstance(tee, Tee):
                tee.close_log()
            setattr(sys, name, stream)
        self._streams = []
        with contextlib.suppress(OSError):
            self._log.file.close()

    # A fork (a DataLoader worker) copies the log's buffer and its lock as they are.
    # Flushing first, under the lock, leaves the child an empty buffer (no line twice
    # in the log) and a lock no other thread holds in mid-line.

    def before_fork(self) -> None:
        self._log.lock.acquire()
        with contextlib.suppress(OSError, ValueError):
            self._log.file.flush()

    def after_fork_in_parent(self) -> None:
        self._log.lock.release()

    def after_fork_in_child(self) -> None:
        """The child's prints reach the log as they are written: a worker ends with
        ``os._exit``, which would drop a buffer."""
        self._log.lock = threading.Lock()
        self._log.write_through = True
