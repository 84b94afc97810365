"""Aliases of artifact versions as refs: a small model registry in git.

``refs/gitexp/aliases/<name>/<alias>`` points at the newest commit of the alias's log.
Each commit records one move in ``alias.json`` (which version: its digest, the run that
produced it, the number it had in the mover's clone; who moved it and when) and has
the previous move as its only parent.  A move is a fast-forward, so moves are pushed
without force; two clones that moved the same alias hold two histories that neither
contains, which push and pull report as diverged (share/aliassync.py), keeping both.
See docs/format.md, "Alias refs".
"""

from __future__ import annotations

import sys
import time

from gitexp.errors import UsageError
from gitexp.git.repo import MODE_FILE, MODE_TREE, GitRepo, ObjectId
from gitexp.model import validate, values
from gitexp.model.lineage import DIGEST_PATTERN, check_alias, check_name
from gitexp.slotted import Slotted

ALIAS_PREFIX = b"refs/gitexp/aliases/"
ALIAS_FILE = b"alias.json"
ALIAS_FORMAT = 1
MAX_ALIAS_JSON = 64 * 1024
MAX_LOG = 10_000  # moves read back from one alias's log


class AliasMove(Slotted):
    """One move of an alias, as its commit records it."""

    _fields = ("name", "alias", "digest", "run", "version", "by", "at", "commit")
    __slots__ = _fields
    name: str
    alias: str
    digest: str
    run: str | None
    version: str | None
    by: str
    at: float
    commit: ObjectId

    def __init__(
        self,
        name: str,
        alias: str,
        digest: str,
        run: str | None,
        version: str | None,
        by: str,
        at: float,
        commit: ObjectId,
    ) -> None:
        self.name, self.alias, self.digest, self.run = name, alias, digest, run
        self.version, self.by, self.at, self.commit = version, by, at, commit

    def __hash__(self) -> int:
        return hash(self.commit)


def alias_ref(name: str, alias: str) -> bytes:
    return ALIAS_PREFIX + f"{name}/{alias}".encode()


def split_ref_tail(tail: bytes) -> tuple[str, str] | None:
    """``(name, alias)`` of a ref under ``refs/gitexp/aliases/``, None when malformed."""
    try:
        text = tail.decode("ascii")
    except UnicodeDecodeError:
        return None
    name, _, alias = text.partition("/")
    if check_name(name) or check_alias(alias):
        return None
    return name, alias


def check_move(repo: GitRepo, sha: ObjectId, name: str, alias: str) -> str | None:
    """Why commit ``sha`` is not a move of ``name:alias`` gitexp would write, or None.

    A teammate's ref is input: it must be a commit whose tree holds ``alias.json`` alone,
    naming this alias and a well-formed digest and run.
    """
    try:
        tree, parents, _message = repo.commit_info(sha)
        entries = repo.tree_entries(tree)
    except Exception as exc:  # a blob or a missing object where a commit should be
        return f"not a commit ({type(exc).__name__})"
    if len(parents) > 1:
        return "a merge: alias moves have one parent"
    if set(entries) != {ALIAS_FILE} or entries[ALIAS_FILE][0] not in (MODE_FILE,):
        return "its tree holds more than alias.json"
    if entries[ALIAS_FILE][0] == MODE_TREE:
        return "alias.json is a folder"
    try:
        data = validate.load_json(
            repo.read_blob(entries[ALIAS_FILE][1]), "alias.json", MAX_ALIAS_JSON
        )
    except (ValueError, KeyError) as exc:
        return f"alias.json does not parse: {exc}"
    if not isinstance(data, dict):
        return "alias.json is not an object"
    if data.get("name") != name or data.get("alias") != alias:
        return "alias.json names another alias than its ref"
    digest, run = data.get("digest"), data.get("run")
    if not isinstance(digest, str) or not DIGEST_PATTERN.match(digest):
        return "alias.json has no valid digest"
    if run is not None and (not isinstance(run, str) or validate.check_run_id(run)):
        return "alias.json names an invalid run"
    return None


def read_move(repo: GitRepo, sha: ObjectId, name: str, alias: str) -> AliasMove | None:
    """The move commit ``sha`` records, None when :func:`check_move` refuses it."""
    if check_move(repo, sha, name, alias) is not None:
        return None
    tree, _parents, _message = repo.commit_info(sha)
    data = values.loads(repo.read_blob(repo.tree_entries(tree)[ALIAS_FILE][1]).decode())
    at = data.get("at")
    version = data.get("version")
    return AliasMove(
        name,
        alias,
        data["digest"],
        data.get("run"),
        version if isinstance(version, str) else None,
        str(data.get("by") or ""),
        float(at) if isinstance(at, (int, float)) else 0.0,
        sha,
    )


def current_aliases(repo: GitRepo, warn: bool = True) -> dict[tuple[str, str], AliasMove]:
    """Every alias ref's newest move; malformed refs are ignored with one warning each."""
    out: dict[tuple[str, str], AliasMove] = {}
    for tail, sha in sorted(repo.list_refs(ALIAS_PREFIX).items()):
        parsed = split_ref_tail(tail)
        move = read_move(repo, sha, *parsed) if parsed else None
        if move is None:
            if warn:
                from gitexp.render.cells import printable

                shown = printable(tail.decode("utf-8", "replace"))
                print(
                    f"gitexp: warning: alias ref {shown} is not one gitexp wrote: ignored",
                    flush=True,
                    file=sys.stderr,
                )
            continue
        out[(move.name, move.alias)] = move
    return out


def alias_log(repo: GitRepo, name: str, alias: str) -> list[AliasMove]:
    """The alias's moves, newest first (stops at a commit that is not a valid move)."""
    out: list[AliasMove] = []
    sha = repo.read_ref(alias_ref(name, alias))
    while sha is not None and len(out) < MAX_LOG:
        move = read_move(repo, sha, name, alias)
        if move is None:
            break
        out.append(move)
        _tree, parents, _message = repo.commit_info(sha)
        sha = parents[0] if parents else None
    return out


def move_alias(
    repo: GitRepo, name: str, alias: str, digest: str, run: str | None, version: str | None
) -> AliasMove:
    """Point ``name:alias`` at a version: one more commit on the alias's log."""
    for problem in (check_name(name), check_alias(alias)):
        if problem:
            raise UsageError(problem, "Choose another name, e.g. `production` or `best`.")
    ref = alias_ref(name, alias)
    by = repo.identity("committer").decode("utf-8", "replace")
    for _attempt in range(5):  # another writer moved it meanwhile: build on its move
        parent = repo.read_ref(ref)
        at = time.time()
        data = {
            "format": ALIAS_FORMAT,
            "name": name,
            "alias": alias,
            "digest": digest,
            "run": run,
            "version": version,
            "by": by,
            "at": round(at, 3),
        }
        blob = repo.write_blob((values.dumps(data, indent=2) + "\n").encode())
        tree = repo.write_tree([(ALIAS_FILE, MODE_FILE, blob)])
        shown = f"{version} " if version else ""
        message = f"gitexp: {name}:{alias} -> {shown}{digest[:12]}\n"
        commit = repo.write_commit(tree, [parent] if parent else [], message, when=at)
        if parent is None:
            moved = repo.create_ref(ref, commit, b"gitexp: alias created")
        else:
            moved = repo.move_ref(ref, parent, commit, b"gitexp: alias moved")
        if moved:
            return AliasMove(name, alias, digest, run, version, by, at, commit)
    raise UsageError(
        f"alias {name}:{alias} kept moving while gitexp tried to move it",
        "Run the command again.",
    )
