"""Reading a run's media: the file a history reference names, from the run's tree alone.

A reference came from a run, which anyone may have written: its path is checked
(``model/validate.py``: under ``.gitexp/media/``, normalized) and looked up in the
run's tree, never on disk (a file too large for git: in the run's ``artifacts.json``,
read from DVC's cache by its MD5), and the bytes found must have the reference's SHA-256.
``gitexp report``, ``gitexp ui`` and the read API get media files through here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gitexp.errors import FormatError, TransferError
from gitexp.git.repo import MODE_EXEC, MODE_FILE, GitRepo, ObjectId
from gitexp.model import history, validate

_MD5 = re.compile(r"^[0-9a-f]{32}$")


def media_file(repo: GitRepo, commit: ObjectId, ref: object) -> bytes:
    """The bytes of the file ``ref`` names in the run commit ``commit`` (a chart: its
    table's).  FormatError (exit 7) when the reference is malformed, names no file of
    the run, or the file's hash differs."""
    if isinstance(ref, dict) and ref.get("_type") == history.CHART:
        ref = ref.get("table")
    if not isinstance(ref, dict) or ref.get("_type") not in history.FILE_TYPES:
        problem: str | None = "not a media file reference"
    else:
        problem = validate.check_media_ref(ref)
    if problem or not isinstance(ref, dict):
        raise FormatError(
            f"cannot read a media file: {problem}",
            "The run's history holds a reference gitexp did not write; see `gitexp show`.",
        )
    path = str(ref["path"])
    root, _parents, _message = repo.commit_info(commit)
    found = repo.lookup_path(root, path.encode())
    if found is not None and found[0] in (MODE_FILE, MODE_EXEC):
        data = repo.read_blob(found[1])
    else:
        data = _from_dvc(repo, commit, path)
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise FormatError(
            f"media file {path[:200]!r} does not match the hash its reference names",
            "The run was changed after it was recorded; see `git log` of its ref.",
        )
    return data


def _from_dvc(repo: GitRepo, commit: ObjectId, path: str) -> bytes:
    """A media file too large for git: DVC's cache holds it (artifacts.json, kind media)."""
    from gitexp.artifacts.pointers import MEDIA, run_artifacts

    kept = [item for item in run_artifacts(repo, commit) if item.kind == MEDIA]
    digest = next((item.digest for item in kept if item.path == path), None)
    if digest is None or not _MD5.match(digest.md5):
        raise FormatError(
            f"the run has no media file {path[:200]!r}",
            "It was logged but never committed (a run that crashed before its next "
            "checkpoint), or the run was edited.",
        )
    from gitexp.artifacts.dvc import ArtifactStore

    with ArtifactStore(repo.root) as store:
        cached = store.cache_file(digest.md5)
    try:
        with open(cached, "rb") as handle:
            return handle.read()
    except OSError:
        raise TransferError(
            f"media file {path[:200]!r} is kept in DVC and is not in this clone's cache",
            "Fetch the run's artifacts: `gitexp pull` (without --no-artifacts).",
        ) from None


def media_table(repo: GitRepo, commit: ObjectId, ref: object) -> dict[str, Any]:
    """A table file (or a chart's table) as ``{"columns": [...], "data": [[...]]}``."""
    try:
        data = validate.load_json(media_file(repo, commit, ref), "a media table")
    except ValueError as exc:
        raise FormatError(str(exc), "The run's table file is damaged; see `gitexp show`.") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("columns"), list)
        or not isinstance(data.get("data"), list)
    ):
        raise FormatError(
            "a media table has no columns and data lists",
            "The run's table file was not written by gitexp; see `gitexp show`.",
        )
    return data
