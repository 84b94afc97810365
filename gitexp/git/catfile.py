"""Reading many objects at once through one ``git cat-file`` process.

A push reads a commit and a file of every run it carries, a first listing after a clone
reads every run commit, the validation layer checks object sizes: one git answering in
C is ten times faster than asking dulwich object by object.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import cast

from gitexp.errors import RepositoryStateError
from gitexp.git.binary import git_env, no_git_error


def read_objects(cwd: str, names: list[str]) -> list[tuple[str, bytes] | None]:
    """Many objects through one ``git cat-file --batch``: ``(type, content)`` per name.

    A name is anything ``cat-file`` takes (``<sha>``, ``<commit>:<path>``); None for one
    that names no object.  A push reads a commit and a file of every run it carries:
    one git reading them all in C is ten times faster than reading them one by one.
    Replace refs are ignored, as dulwich ignores them (the objects are the stored ones).
    """
    if not names:
        return []
    if any("\n" in name for name in names):
        raise ValueError("object names cannot hold a newline")
    try:
        done = subprocess.run(
            ["git", "--no-replace-objects", "cat-file", "--batch", "--buffer"],
            cwd=cwd,
            env=git_env(),
            input="".join(f"{name}\n" for name in names).encode(),
            capture_output=True,
        )
    except FileNotFoundError:
        raise no_git_error() from None
    if done.returncode:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RepositoryStateError(f"git cat-file failed: {message}")
    out = done.stdout
    found: list[tuple[str, bytes] | None] = []
    at = 0
    for _name in names:
        end = out.find(b"\n", at)
        if end < 0:
            raise RepositoryStateError("git cat-file answered fewer objects than asked")
        header = out[at:end].split(b" ")
        at = end + 1
        if len(header) != 3 or not header[2].isdigit():  # "<name> missing", "... ambiguous"
            found.append(None)
            continue
        size = int(header[2])
        found.append((header[1].decode("ascii", "replace"), out[at : at + size]))
        at += size + 1  # the content, then a newline
    return found


def object_sizes(cwd: str, shas: list[str]) -> list[int | None]:
    """The size of each object by one ``git cat-file --batch-check`` (None: absent), so a
    reader can refuse a huge blob from a remote without loading it."""
    if not shas:
        return []
    try:
        done = subprocess.run(
            ["git", "--no-replace-objects", "cat-file", "--batch-check=%(objectsize)"],
            cwd=cwd,
            env=git_env(),
            input="".join(f"{sha}\n" for sha in shas).encode(),
            capture_output=True,
        )
    except FileNotFoundError:
        raise no_git_error() from None
    lines = done.stdout.decode("ascii", "replace").splitlines()
    if done.returncode or len(lines) != len(shas):
        raise RepositoryStateError("git cat-file --batch-check failed")
    return [int(line) if line.isdigit() else None for line in lines]


Commit = tuple[bytes, list[bytes], str]  # (tree, parents, message), as GitRepo.commit_info
TreeEntries = dict[bytes, tuple[int, bytes]]  # as GitRepo.tree_entries


def read_commits(cwd: str, shas: list[bytes]) -> dict[bytes, Commit | None]:
    """Many commits by one ``git cat-file --batch``: {sha: (tree, parents, message)}, None
    for an object that is absent, not a commit, or has no valid tree line."""
    found = read_objects(cwd, [sha.decode() for sha in shas])
    return {
        sha: parse_commit(obj[1]) if obj is not None and obj[0] == "commit" else None
        for sha, obj in zip(shas, found, strict=True)
    }


def parse_commit(body: bytes) -> Commit | None:
    """A commit object's tree, parents and message (decoded as GitRepo.commit_info does).

    The headers end at the first empty line (a signature's own empty lines are written
    as a single space, so they never end them early)."""
    headers, _, message = body.partition(b"\n\n")
    lines = headers.split(b"\n")
    # git's order: the tree first, then the parents; anything else (a tree or a parent
    # elsewhere) is None here, so the caller reads it one by one and fails as git does.
    if not lines[0].startswith(b"tree "):
        return None
    tree = lines[0][5:]
    parents: list[bytes] = []
    for line in lines[1:]:
        if not line.startswith(b"parent "):
            break
        parents.append(line[7:])
    rest = lines[1 + len(parents) :]
    if any(line.startswith((b"tree ", b"parent ")) for line in rest):
        return None
    if not _is_hex_id(tree) or not all(map(_is_hex_id, parents)):
        return None
    return tree, parents, message.decode("utf-8", "replace")


def read_trees(cwd: str, shas: list[bytes]) -> dict[bytes, TreeEntries | None]:
    """Many trees by one ``git cat-file --batch``: {sha: {name: (mode, sha)}}, None for an
    object that is absent, not a tree, or does not parse."""
    found = read_objects(cwd, [sha.decode() for sha in shas])
    trees: dict[bytes, TreeEntries | None] = {}
    for sha, obj in zip(shas, found, strict=True):
        entries: TreeEntries | None = None
        if obj is not None and obj[0] == "tree":
            try:
                entries = {name: (mode, hexsha) for name, mode, hexsha in _parse_tree(obj[1])}
            except Exception:  # dulwich's parser raises its own kinds on a damaged tree
                entries = None
        trees[sha] = entries
    return trees


def read_blobs(cwd: str, shas: list[bytes]) -> dict[bytes, bytes]:
    """Many blobs by one ``git cat-file --batch``: {sha: content}; an object that is
    absent or not a blob is left out (the caller reads it the slow way, and fails there)."""
    found = read_objects(cwd, [sha.decode() for sha in shas])
    return {
        sha: obj[1]
        for sha, obj in zip(shas, found, strict=True)
        if obj is not None and obj[0] == "blob"
    }


def _parse_tree(body: bytes) -> Iterable[tuple[bytes, int, bytes]]:
    """dulwich's compiled tree parser (~0.3 us an entry against ~1 us in Python); its
    signature gained the id length in dulwich 1.x's SHA-256 work."""
    from dulwich.objects import parse_tree

    try:
        return cast("Iterable[tuple[bytes, int, bytes]]", parse_tree(body, sha_len=20))
    except TypeError:
        return cast("Iterable[tuple[bytes, int, bytes]]", parse_tree(body))


def _is_hex_id(value: bytes) -> bool:
    return len(value) == 40 and not value.strip(b"0123456789abcdef")
