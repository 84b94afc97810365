"""The validation verdicts of run commits, cached on disk by commit id.

A commit is immutable, so its verdict never changes.  ``<git common dir>/gitexp/cache/``
holds ``verdicts.tsv``, one line ``<commit><TAB>`` per commit that passed, and
``quarantined.tsv``, one line ``<commit><TAB><reason>`` per commit that failed.  ``ls``
reads only the second, which stays small: 10,000 checked runs cost it nothing.  Lines
are only appended, each file by one ``write`` opened for appending, so two commands
checking runs at once never lose each other's lines; a torn or unknown line is ignored
(the commit is checked again).
"""

from __future__ import annotations

import contextlib
import os

from gitexp.git.repo import GitRepo

VERDICTS_NAME = "verdicts.tsv"
QUARANTINED_NAME = "quarantined.tsv"
_SHA_LENGTHS = (40, 64)


def _path(repo: GitRepo, name: str) -> str:
    return os.path.join(repo.commondir, "gitexp", "cache", name)


def load(repo: GitRepo, *, failed_only: bool = False) -> dict[bytes, str]:
    """{commit: reason}; an empty reason is a commit that passed.  {} without a file."""
    found = {} if failed_only else _read(_path(repo, VERDICTS_NAME))
    found.update(_read(_path(repo, QUARANTINED_NAME)))
    return found


def _read(path: str) -> dict[bytes, str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return {}
    found: dict[bytes, str] = {}
    for line in text.split("\n"):
        sha, tab, reason = line.partition("\t")
        if tab and len(sha) in _SHA_LENGTHS:
            found[sha.encode()] = reason
    return found


def save(repo: GitRepo, new: dict[bytes, str]) -> None:
    """Append verdicts; a cache that cannot be written only costs a check next time."""
    passed = "".join(f"{sha.decode()}\t\n" for sha, reason in new.items() if not reason)
    failed = "".join(
        f"{sha.decode()}\t{_one_line(reason)}\n" for sha, reason in new.items() if reason
    )
    _append(_path(repo, VERDICTS_NAME), passed)
    _append(_path(repo, QUARANTINED_NAME), failed)


def _append(path: str, lines: str) -> None:
    if not lines:
        return
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, lines.encode("utf-8", "replace"))
        finally:
            os.close(fd)


def _one_line(reason: str) -> str:
    return " ".join(reason.split())[:500]
