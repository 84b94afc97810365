"""Editing a finished run after the fact: tags, note, name.

An edit never rewrites what was recorded: it appends one commit to the run's history
whose tree differs only in ``.gitexp/run.json`` (and whose listing row carries the new
values), and moves the ref by compare-and-swap.  The update is a fast-forward, so it can
be pushed like any other run update.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitexp.errors import FormatError, RepositoryStateError
from gitexp.git.repo import MODE_FILE, MODE_TREE, GitRepo, ObjectId
from gitexp.model import redact, values
from gitexp.model.record import META_DIR, REF_PREFIX, RUNNING, RunInfo, parse_row
from gitexp.read.listing import RunEntry


@dataclass
class Edit:
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    note: str | None = None
    name: str | None = None

    def describe(self) -> str:
        parts = [f"+{t}" for t in self.add_tags] + [f"-{t}" for t in self.remove_tags]
        if self.note is not None:
            parts.append("note")
        if self.name is not None:
            parts.append(f"name={self.name}")
        return " ".join(parts)


def apply_edit(repo: GitRepo, entry: RunEntry, edit: Edit) -> tuple[RunInfo, ObjectId]:
    """Append an edit commit to ``entry``'s run; returns the new run info and commit."""
    # Tags, note and name are pushed with the run: secret shapes never reach the commit.
    edit = Edit(
        [redact.scrub_text(t) for t in edit.add_tags],
        [redact.scrub_text(t) for t in edit.remove_tags] + edit.remove_tags,
        None if edit.note is None else redact.scrub_text(edit.note),
        None if edit.name is None else redact.scrub_text(edit.name),
    )
    root, _parents, message = repo.commit_info(entry.commit)
    row = parse_row(message)
    if row is None:
        raise FormatError(f"run {entry.id} has no gitexp listing row; it cannot be edited")
    if row.get("status") == RUNNING:
        raise RepositoryStateError(
            f"run {entry.id} is still running; its recorder owns the ref until it ends",
            "Edit it once it has finished (see `gitexp ls`).",
        )
    meta = repo.lookup_path(root, META_DIR.encode())
    run_json = repo.lookup_path(root, f"{META_DIR}/run.json".encode())
    if meta is None or run_json is None:
        raise FormatError(f"run {entry.id} has no {META_DIR}/run.json; it cannot be edited")
    try:
        info = RunInfo.from_json(repo.read_blob(run_json[1]).decode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"run {entry.id} has corrupted metadata (.gitexp/run.json: {exc}); it cannot be edited",
            f"Read it with `git show refs/gitexp/runs/{entry.id}:.gitexp/run.json`.",
        ) from None
    tags = [t for t in info.tags if t not in edit.remove_tags]
    tags += [t for t in edit.add_tags if t not in tags]
    info.tags = tags
    if edit.note is not None:
        info.notes = edit.note
    if edit.name is not None:
        info.name = edit.name
    blob = repo.write_blob(info.to_json().encode())
    new_meta = repo.write_tree_over(meta[1], {b"run.json": (MODE_FILE, blob)})
    new_root = repo.write_tree_over(root, {META_DIR.encode(): (MODE_TREE, new_meta)})
    row.update({"name": info.name, "tags": info.tags})
    command = " ".join(info.command)
    new_message = (
        f"gitexp: {info.name} edited ({info.status})\n\n{edit.describe()}\n\n"
        f"{command[:200]}\n\ngitexp-run: {values.dumps(row)}\n"
    )
    commit = repo.write_commit(new_root, [entry.commit], new_message)
    ref = REF_PREFIX + entry.id.encode()
    if not repo.move_ref(ref, entry.commit, commit, b"gitexp: edit"):
        raise RepositoryStateError(
            f"run {entry.id} changed while it was being edited", "Run the command again."
        )
    return info, commit
