"""Hashing a file once: DVC's MD5 of a file, remembered for the copy into the cache.

No DVC import here: the snapshot hashes large files with it while the run goes on.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import BinaryIO

_CHUNK = 1 << 20


def file_md5(path: str) -> str:
    """The MD5 of a file's bytes: DVC's hash of a file (DVC 3, ``hash: md5``: plain MD5
    for text and binary files alike; only DVC 2's legacy cache normalized line ends)."""
    with open(path, "rb") as handle:
        return md5_of(handle)


def md5_of(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)  # releases the GIL: a copy can run beside it
    return digest.hexdigest()


# -- hashing a file once -----------------------------------------------------------------
#
# A large untracked file is hashed for the snapshot (``snapshot.json``) while the run
# goes on; when it is then kept as an artifact, ``ArtifactStore.add`` (artifacts/dvc.py)
# reuses that MD5 instead of reading the file again, as long as the file is provably the
# one hashed: same device, inode, size, modification and change times (what DVC's own
# state database trusts, plus the change time), and not modified within RACY_NS of the
# hashing (a write in the same timestamp tick would leave the times unchanged: git's
# "racy" rule).

RACY_NS = 1_000_000_000
_known_lock = threading.Lock()
_known: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}


def file_identity(st: os.stat_result) -> tuple[tuple[int, int], tuple[int, int, int]]:
    return (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def remembered_md5(path: str) -> tuple[str, os.stat_result]:
    """The MD5 of a file (as :func:`file_md5`) and its stat after hashing.

    The MD5 is remembered, in this process, for ``ArtifactStore.add`` (artifacts/dvc.py)
    of the same unchanged file, which then only copies it.
    """
    started = time.time_ns()
    with open(path, "rb") as handle:
        before = os.fstat(handle.fileno())
        md5 = md5_of(handle)
    after = os.stat(path)
    if file_identity(before) == file_identity(after) and after.st_mtime_ns + RACY_NS <= started:
        key, state = file_identity(after)
        with _known_lock:
            _known[key] = (state, md5)
    return md5, after


def recall_md5(st: os.stat_result) -> str | None:
    key, state = file_identity(st)
    with _known_lock:
        known = _known.get(key)
    return known[1] if known is not None and known[0] == state else None
