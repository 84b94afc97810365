"""Captured output as stored in git: the head and the tail, never an unbounded blob.

The live ``output.log`` grows without limit while a run goes on (it is deleted when the
run is finalized); the committed copy keeps the first ``HEAD_BYTES`` and the last
``TAIL_BYTES`` with one marker line saying how much was left out between them.  The head
holds the set-up messages and the tail the final metrics or the traceback: the two
parts people read.
"""

from __future__ import annotations

import os
import re

HEAD_BYTES = 1 << 20
TAIL_BYTES = 1 << 20


# Token shapes specific enough that ordinary output (hashes, ids, numbers) never matches.
# Scrubbing is on by default because captured output is pushed to shared remotes with the
# run; GITEXP_SCRUB_OUTPUT=0 turns it off.
_TOKEN_PATTERN = (
    rb"AKIA[0-9A-Z]{16}"  # AWS access key id
    rb"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    rb"|github_pat_[A-Za-z0-9_]{40,}"
    rb"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    rb"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    rb"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Anthropic style keys
    rb"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    rb"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    rb"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWT
    rb"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
)
REDACTED = b"[redacted by gitexp]"
_token_shapes: re.Pattern[bytes] | None = None  # compiled on first use: ~5 ms at start-up


def scrub(data: bytes) -> bytes:
    """Replace common credential shapes with a marker (see ``_TOKEN_PATTERN``)."""
    if os.environ.get("GITEXP_SCRUB_OUTPUT", "1") == "0":
        return data
    if not data:
        return data
    global _token_shapes
    if _token_shapes is None:
        _token_shapes = re.compile(_TOKEN_PATTERN, re.DOTALL)
    return _token_shapes.sub(REDACTED, data)


def read_capped(path: str, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> bytes | None:
    """The capped and scrubbed output of ``path``, or None when there is no such file."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= head + tail:
                return scrub(handle.read())
            first = handle.read(head)
            handle.seek(size - tail)
            last = handle.read(tail)
    except FileNotFoundError:
        return None
    left_out = size - len(first) - len(last)
    marker = f"\n[gitexp: {left_out} bytes of output left out here]\n".encode()
    return scrub(first) + marker + scrub(last)
