"""Which remote commits may change a run that has finished here: the pull policy.

A remote is a teammate's clone, or anyone who can push to it.  A finished run is a
record people cite, so a fetch may extend it only by the two fast-forwards
docs/format.md defines for a finished run:

- an **edit** (``gitexp tag``, ``note``, ``rename``): the tree differs only in
  ``.gitexp/run.json``, and that only in ``name``, ``tags`` and ``notes``;
- a **resumption** (``gitexp run --resume``): the code snapshot (everything outside
  ``.gitexp/``) unchanged, the history rows recorded so far byte-identical (earlier
  ``history/NNNNNN.jsonl`` files the same blobs, the last one only appended to), and one
  more entry in ``run.json``'s ``resumes``.  Its checkpoints and final commit keep the
  same three promises until the run has finished again.

A running run advances freely: its checkpoints rewrite the summary and the last history
file by design (docs/format.md, "Commits").  Everything here reads objects the fetch
already brought; nothing is written.
"""

from __future__ import annotations

from gitexp.errors import GitexpError
from gitexp.git.repo import MODE_TREE, GitRepo, ObjectId
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


# run.json of each commit read so far, as RunInfo writes it: a resumption's checkpoints
# are all compared with one finished commit, read once.
_Seen = dict[ObjectId, dict[str, object]]


def _check(repo: GitRepo, local: ObjectId, remote: ObjectId) -> None:
    anchor = None if _running(repo, local) else local  # the last finished commit
    resumed = False  # whether the commits since ``anchor`` belong to a resumption
    seen: _Seen = {}
    for commit in _chain(repo, local, remote):
        if anchor is not None:
            if not resumed and _resumes(repo, commit, seen) == _resumes(repo, anchor, seen):
                _check_edit(repo, anchor, commit, seen)
            else:
                _check_resumption(repo, anchor, commit, seen)
        if not _running(repo, commit):
            anchor, resumed = commit, False
        elif anchor is not None:
            resumed = True


def _chain(repo: GitRepo, local: ObjectId, remote: ObjectId) -> list[ObjectId]:
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


def _running(repo: GitRepo, commit: ObjectId) -> bool:
    row = parse_row(repo.commit_message(commit)) or {}
    return row.get("status") == RUNNING


def _run_json(repo: GitRepo, commit: ObjectId, seen: _Seen) -> dict[str, object]:
    """The commit's run.json as gitexp itself would write it again.

    An edit reads run.json and writes it back: a field a run from before it existed
    lacks (``resumes``, ``redacted``) comes back with its default, and a field newer than
    the editing gitexp moves into ``extra``.  Reading both sides the same way compares
    what they say, not how each gitexp wrote it.
    """
    if commit not in seen:
        tree, _parents, _message = repo.commit_info(commit)
        data = repo.read_file(tree, f"{META_DIR}/run.json")
        if data is None:
            raise Refused(f"commit {_short(commit)} has no {META_DIR}/run.json")
        normal = values.loads(RunInfo.from_json(data.decode("utf-8")).to_json())
        seen[commit] = normal if isinstance(normal, dict) else {}
    return seen[commit]


def _resumes(repo: GitRepo, commit: ObjectId, seen: _Seen) -> list[object]:
    found = _run_json(repo, commit, seen).get("resumes") or []
    return found if isinstance(found, list) else []


def _split(repo: GitRepo, commit: ObjectId) -> tuple[dict[bytes, object], dict[bytes, object]]:
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


def _check_edit(repo: GitRepo, before: ObjectId, after: ObjectId, seen: _Seen) -> None:
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


def _check_resumption(repo: GitRepo, finished: ObjectId, after: ObjectId, seen: _Seen) -> None:
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
    _check_history(repo, meta_before.get(_HISTORY), meta_after.get(_HISTORY), why)


def _check_history(repo: GitRepo, before: object, after: object, why: str) -> None:
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
        if grown != old[last]:
            kept = repo.read_blob(old[last][1])
            if not repo.read_blob(grown[1]).startswith(kept):
                text = last.decode("utf-8", "replace")
                raise Refused(f"{why}: history/{text} was rewritten, not appended to")
