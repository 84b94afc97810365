"""The validation verdicts of run commits, cached on disk by commit id.

A commit is immutable, so its verdict never changes: ``<git common dir>/gitexp/cache/
verdicts.tsv`` holds one line per checked commit, ``<commit>\\t<reason>`` (an empty
reason: the commit passed).  Lines are only appended, each by one ``write`` on a file
opened for appending, so two commands checking runs at once never lose each other's
lines; a torn or unknown line is ignored (the commit is checked again).
"""

from __future__ import annotations

import contextlib
import os

from gitexp.git.repo import GitRepo

VERDICTS_NAME = "verdicts.tsv"
_SHA_LENGTHS = (40, 64)


def verdicts_path(repo: GitRepo) -> str:
    return os.path.join(repo.commondir, "gitexp", "cache", VERDICTS_NAME)


def load(repo: GitRepo) -> dict[bytes, str]:
    """{commit: reason}; an empty reason is a commit that passed.  {} without a file."""
    try:
        with open(verdicts_path(repo), encoding="utf-8", errors="replace") as handle:
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
    if not new:
        return
    lines = "".join(f"{sha.decode()}\t{_one_line(reason)}\n" for sha, reason in new.items())
    path = verdicts_path(repo)
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, lines.encode("utf-8", "replace"))
        finally:
            os.close(fd)


def _one_line(reason: str) -> str:
    return " ".join(reason.split())[:500]
