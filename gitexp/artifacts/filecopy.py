"""Copying a file's bytes in the kernel rather than in a Python loop."""

from __future__ import annotations

import errno
import os

# copy_file_range cannot copy between these files (another filesystem, an old kernel):
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def kernel_copy(source: str, dest: str) -> bool:
    """``copy_file_range`` (Linux): False where it cannot copy between these two files."""
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            copied = 0
            while n := os.copy_file_range(src, dst, 1 << 30):
                copied += n
            return copied > 0 or os.fstat(src).st_size == 0  # 0 bytes: some filesystems'
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY or copied:
                raise
            return False
        finally:
            os.close(dst)
    finally:
        os.close(src)
