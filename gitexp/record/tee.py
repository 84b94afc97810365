"""Copy a child's stdout and stderr to the terminal and to the run's live output log.

The copying runs in the keeper (record/keeper.py), a process of its own session, not in
``gitexp run``: if the wrapper is killed, the pipes keep a reader, so the training
process is never hit by a broken pipe, and its output keeps reaching the log until it
exits.
"""

from __future__ import annotations

import contextlib
import os
import select


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
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    targets: dict[int, int | None] = dict(pipes)
    pending = dict.fromkeys(pipes, b"")
    while targets:
        ready, _, _ = select.select(list(targets), [], [])
        for fd in ready:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
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
