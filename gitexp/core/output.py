"""Captured output as stored in git: the head and the tail, never an unbounded blob.

The live ``output.log`` grows without limit while a run goes on (it is deleted when the
run is finalized); the committed copy keeps the first ``HEAD_BYTES`` and the last
``TAIL_BYTES`` with one marker line saying how much was left out between them.  The head
holds the set-up messages and the tail the final metrics or the traceback: the two
parts people read.
"""

from __future__ import annotations

import os

HEAD_BYTES = 1 << 20
TAIL_BYTES = 1 << 20


def read_capped(path: str, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> bytes | None:
    """The capped output of ``path``, or None when there is no such file."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= head + tail:
                return handle.read()
            first = handle.read(head)
            handle.seek(size - tail)
            last = handle.read(tail)
    except FileNotFoundError:
        return None
    left_out = size - len(first) - len(last)
    marker = f"\n[gitexp: {left_out} bytes of output left out here]\n".encode()
    return first + marker + last
