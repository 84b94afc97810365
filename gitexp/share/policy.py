"""Which remote commits may change a run that has finished here: the pull policy.

A remote is a teammate's clone, or anyone who can push to it.  A finished run is a
record people cite, so a fetch may extend it only by the two fast-forwards
docs/format.md defines for a finished run:

- an **edit** (``gitexp tag``, ``note``, ``rename``): the tree differs only in
  ``.gitexp/run.json``, and that only in ``name``, ``tags`` and ``notes``;
- a **resumption** (``gitexp run --resume``): the code snapshot (everything outside
  ``.gitexp/``) unchanged, the history rows recorded so far byte-identical (earlier
  ``history/NNNNNN.jsonl`` files the same blobs, the last one only appended to), and one
  more entry in ``run.json``'s ``resumes``.  Its checkpoints keep the code, the earlier
  history files and the ``resumes`` entry; where the resumption ends (a finished commit,
  or the remote's newest) the rows are compared byte for byte too.

A running run advances freely: its checkpoints rewrite the summary and the last history
file by design (docs/format.md, "Commits").  Everything here reads objects the fetch
already brought; nothing is written.
"""

from __future__ import annotations

from gitexp.errors import GitexpError
from gitexp.git.repo import MODE_TREE, GitRepo, ObjectId
from gitexp.git.trees import TreeChange
from gitexp.model import values
from gitexp.model.record import META_DIR, RUNNING, RunInfo, parse_row

_META = META_DIR.encode()
_HISTORY = b"history"
_RUN_JSON = b"run.json"
# What an edit may change: in run.json, and in the listing row of the commit message.
_EDITABLE = frozenset({"name", "tags", "notes"})


class Refused(Exception):
    """A commit that would change a finished run in a way no gitexp writes."""


def refusal(repo: GitRepo, local: ObjectId, remote: ObjectId) -> str | None:
    """Why moving a run from ``local`` to its descendant ``remote`` is refused, or None.

    Call it only once ``remote`` is known to descend from ``local``.
    """
    try:
        _check(repo, local, remote)
    except Refused as exc:
        return str(exc)
    except (GitexpError, KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        # A missing or mistyped object is not a commit gitexp wrote: refuse, never crash.
        return f"unreadable run commit ({type(exc).__name__}: {exc})"
    return None


# Each run.json read so far (by blob id), as RunInfo writes it.
_Seen = dict[ObjectId, dict[str, object]]


class _Reader:
    """The repository's commits and trees, each read once per check.

    A resumption's checkpoints are all compared with the same finished commit; reading
    its trees again for each of them was half the cost of a check.
    """

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self._commits: dict[ObjectId, tuple[ObjectId, list[ObjectId], str]] = {}
        self._trees: dict[ObjectId, dict[bytes, tuple[int, ObjectId]]] = {}

    def commit_info(self, sha: ObjectId) -> tuple[ObjectId, list[ObjectId], str]:
        if sha not in self._commits:
            self._commits[sha] = self.repo.commit_info(sha)
        return self._commits[sha]

    def commit_message(self, sha: ObjectId) -> str:
        return self.commit_info(sha)[2]

    def tree_entries(self, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
        if tree not in self._trees:
            self._trees[tree] = self.repo.tree_entries(tree)
        return dict(self._trees[tree])

    def read_blob(self, sha: ObjectId) -> bytes:
        return self.repo.read_blob(sha)

    def diff_trees(self, old: ObjectId, new: ObjectId, exclude_top: bytes) -> list[TreeChange]:
        return self.repo.diff_trees(old, new, exclude_top=exclude_top)


def _check(repo: GitRepo, local: ObjectId, remote: ObjectId) -> None:
    reader = _Reader(repo)
    anchor = None if _running(reader, local) else local  # the last finished commit
    resumed = False  # whether the commits since ``anchor`` belong to a resumption
    seen: _Seen = {}
    chain = _chain(reader, local, remote)
    for index, commit in enumerate(chain):
        running = _running(reader, commit)
        if anchor is not None:
            if not resumed and _resumes(reader, commit, seen) == _resumes(reader, anchor, seen):
                _check_edit(reader, anchor, commit, seen)
            else:
                # The rows' bytes are compared where a resumption's commits end: at a
                # finished commit, or at the remote's; every commit keeps the files.
                whole = not running or index == len(chain) - 1
                _check_resumption(reader, anchor, commit, seen, whole)
        if not running:
            anchor, resumed = commit, False
        elif anchor is not None:
            resumed = True


def _chain(repo: _Reader, local: ObjectId, remote: ObjectId) -> list[ObjectId]:
    """The commits after ``local`` up to ``remote``, oldest first.

    Every commit of a run after its first has exactly one parent, the previous one; a
    merge could hide any history behind a second parent, so it is refused.
    """
    chain = []
    commit = remote
    while commit != local:
        _tree, parents, _message = repo.commit_info(commit)
        if len(parents) != 1:
            raise Refused(
                f"commit {commit.decode()[:12]} has {len(parents)} parents; gitexp writes "
                "a run's later commits with one"
            )
        chain.append(commit)
        commit = parents[0]
    chain.reverse()
    return chain


def _running(repo: _Reader, commit: ObjectId) -> bool:
    row = parse_row(repo.commit_message(commit)) or {}
    return row.get("status") == RUNNING


def _run_json(repo: _Reader, commit: ObjectId, seen: _Seen) -> dict[str, object]:
    """The commit's run.json as gitexp itself would write it again.

    An edit reads run.json and writes it back: a field a run from before it existed
    lacks (``resumes``, ``redacted``) comes back with its default, and a field newer than
    the editing gitexp moves into ``extra``.  Reading both sides the same way compares
    what they say, not how each gitexp wrote it.
    """
    tree, _parents, _message = repo.commit_info(commit)
    meta = repo.tree_entries(tree).get(_META)
    found = repo.tree_entries(meta[1]).get(_RUN_JSON) if meta and meta[0] == MODE_TREE else None
    if found is None or found[0] == MODE_TREE:
        raise Refused(f"commit {_short(commit)} has no {META_DIR}/run.json")
    blob = found[1]
    if blob not in seen:  # checkpoints share one run.json: read and parsed once
        text = repo.read_blob(blob).decode("utf-8")
        normal = values.loads(RunInfo.from_json(text).to_json())
        seen[blob] = normal if isinstance(normal, dict) else {}
    return seen[blob]


def _resumes(repo: _Reader, commit: ObjectId, seen: _Seen) -> list[object]:
    found = _run_json(repo, commit, seen).get("resumes") or []
    return found if isinstance(found, list) else []


def _split(repo: _Reader, commit: ObjectId) -> tuple[dict[bytes, object], dict[bytes, object]]:
    """(the code snapshot's top entries, the ``.gitexp/`` folder's entries) of a commit."""
    tree, _parents, _message = repo.commit_info(commit)
    entries: dict[bytes, object] = dict(repo.tree_entries(tree))
    meta = entries.pop(_META, None)
    inside: dict[bytes, object] = {}
    if isinstance(meta, tuple) and meta[0] == MODE_TREE:
        inside = dict(repo.tree_entries(meta[1]))
    return entries, inside


def _short(commit: ObjectId) -> str:
    return commit.decode()[:12]


def _check_edit(repo: _Reader, before: ObjectId, after: ObjectId, seen: _Seen) -> None:
    tree_before, _parents, _message = repo.commit_info(before)
    tree_after, _parents, _message = repo.commit_info(after)
    changed = [
        change.path
        for change in repo.diff_trees(tree_before, tree_after, exclude_top=b"")
        if change.path != f"{META_DIR}/run.json"
    ]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise Refused(
            f"commit {_short(after)} rewrites a finished run ({', '.join(changed[:3])}{more} "
            "changed); an edit changes only run.json and a resumption adds a `resumes` entry"
        )
    old, new = _run_json(repo, before, seen), _run_json(repo, after, seen)
    fields = sorted(
        key for key in set(old) | set(new) if key not in _EDITABLE and old.get(key) != new.get(key)
    )
    if fields:
        raise Refused(
            f"commit {_short(after)} rewrites a finished run (run.json: {', '.join(fields[:4])} "
            "changed); an edit changes only its name, tags and notes"
        )
    row_old = parse_row(repo.commit_message(before)) or {}
    row_new = parse_row(repo.commit_message(after)) or {}
    rows = sorted(
        key
        for key in set(row_old) | set(row_new)
        if key not in _EDITABLE and row_old.get(key) != row_new.get(key)
    )
    if rows:
        raise Refused(
            f"commit {_short(after)} rewrites a finished run (its listing row: "
            f"{', '.join(rows[:4])} changed); an edit changes only name and tags there"
        )


def _check_resumption(
    repo: _Reader, finished: ObjectId, after: ObjectId, seen: _Seen, whole: bool
) -> None:
    code_before, meta_before = _split(repo, finished)
    code_after, meta_after = _split(repo, after)
    why = f"commit {_short(after)} rewrites a finished run"
    if code_before != code_after:
        raise Refused(f"{why}: a resumption keeps the code snapshot, and it changed")
    old, new = _resumes(repo, finished, seen), _resumes(repo, after, seen)
    if len(new) != len(old) + 1 or new[: len(old)] != old:
        raise Refused(
            f"{why}: neither an edit nor a resumption (run.json's `resumes` goes from "
            f"{len(old)} to {len(new)} entries, earlier ones kept: {new[: len(old)] == old})"
        )
    _check_history(repo, meta_before.get(_HISTORY), meta_after.get(_HISTORY), why, whole)


def _check_history(repo: _Reader, before: object, after: object, why: str, whole: bool) -> None:
    """The rows recorded before must all be there, byte for byte, at the same place."""
    if before is None:
        return
    if not (isinstance(before, tuple) and before[0] == MODE_TREE):
        raise Refused(f"{why}: its {META_DIR}/history is not a folder")
    if not (isinstance(after, tuple) and after[0] == MODE_TREE):
        raise Refused(f"{why}: a resumption keeps {META_DIR}/history, and it is gone")
    old, new = repo.tree_entries(before[1]), repo.tree_entries(after[1])
    names = sorted(old)
    for name in names[:-1]:
        if new.get(name) != old[name]:
            raise Refused(f"{why}: history/{name.decode('utf-8', 'replace')} was rewritten")
    if names:
        last = names[-1]
        grown = new.get(last)
        if grown is None or grown[0] == MODE_TREE:
            raise Refused(f"{why}: history/{last.decode('utf-8', 'replace')} is gone")
        if grown != old[last] and whole:
            kept = repo.read_blob(old[last][1])
            if not repo.read_blob(grown[1]).startswith(kept):
                text = last.decode("utf-8", "replace")
                raise Refused(f"{why}: history/{text} was rewritten, not appended to")


def alias_refusal(
    repo: GitRepo, tail: bytes, local: ObjectId | None, remote: ObjectId
) -> str | None:
    """Why the local alias ``tail`` may not move to the remote's ``remote``, or None.

    An alias moves only forward: the remote's commit must descend from the local one
    (pull reports the other cases as ahead or diverged before asking), and every new
    commit must be a move gitexp writes (read/trust.py ``check_alias_moves``).
    """
    from gitexp.read.trust import check_alias_moves

    if local is not None and not repo.is_ancestor(local, remote):
        return "not a fast-forward of this clone's alias"
    return check_alias_moves(repo, tail, remote, local)
