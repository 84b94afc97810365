"""Captured output as stored in git: the head and the tail, never an unbounded blob.

The live ``output.log`` grows without limit while a run goes on (it is deleted when the
run is finalized); the committed copy keeps the first ``HEAD_BYTES`` and the last
``TAIL_BYTES`` with one marker line saying how much was left out between them.  The head
holds the set-up messages and the tail the final metrics or the traceback: the two
parts people read.
"""

from __future__ import annotations

import os

from gitexp.model.redact import PLACEHOLDER, scrub_bytes, shape_spans

HEAD_BYTES = 1 << 20
TAIL_BYTES = 1 << 20


# Scrubbing is on by default because captured output is pushed to shared remotes with the
# run; GITEXP_SCRUB_OUTPUT=0 turns it off.  The shapes are those of arguments and config
# (gitexp/model/redact.py): one list.
REDACTED = PLACEHOLDER.encode()
# A token straddling a cut (the head's end, the tail's start) is kept whole on the side
# it starts on, so that no half of it escapes the scrubbing; this bounds how far to look.
OVERLAP = 1 << 16


def scrub(data: bytes) -> bytes:
    """Replace credential shapes with a marker (see :data:`gitexp.model.redact.SHAPES`)."""
    if not data or os.environ.get("GITEXP_SCRUB_OUTPUT", "1") == "0":
        return data
    return scrub_bytes(data)


def _scrubbing() -> bool:
    return os.environ.get("GITEXP_SCRUB_OUTPUT", "1") != "0"


def _cut_outside(data: bytes, at: int) -> int:
    """``at``, or the end of the secret shape that ``at`` falls inside."""
    if not _scrubbing():
        return at
    for start, end in shape_spans(data):
        if start < at < end:
            return end
    return at


def unfinished_line(data: bytes) -> int:
    """Where the last, unfinished line of a growing output starts (len when none is).

    A checkpoint leaves it out: half of a token, printed in two writes, is then never
    committed on its own (the line is, whole, at the next commit).  A line longer than
    :data:`OVERLAP` is committed anyway (a progress bar that never ends its line).
    """
    end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    return end if len(data) - end <= OVERLAP else len(data)


def read_capped(
    path: str, head: int = HEAD_BYTES, tail: int = TAIL_BYTES, final: bool = True
) -> bytes | None:
    """The capped and scrubbed output of ``path``, or None when there is no such file.

    ``final=False`` (a checkpoint of a running run) leaves out the unfinished last line.
    """
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > head + tail + 2 * OVERLAP:
                first = handle.read(head + OVERLAP)
                handle.seek(size - tail - OVERLAP)
                last = handle.read(tail + OVERLAP)
            else:
                first, last = handle.read(), b""
    except FileNotFoundError:
        return None
    if not final:
        if last:
            last = last[: unfinished_line(last)]
        else:
            first = first[: unfinished_line(first)]
    if not last:
        return scrub(first)
    first = first[: _cut_outside(first, head)]
    start = OVERLAP
    if _scrubbing():
        start = next((s for s, e in shape_spans(last) if s < OVERLAP < e), OVERLAP)
    last = last[start:]
    left_out = max(0, size - len(first) - len(last))
    marker = f"\n[gitexp: {left_out} bytes of output left out here]\n".encode()
    return scrub(first) + marker + scrub(last)
