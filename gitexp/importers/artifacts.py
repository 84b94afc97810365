"""A source's large files (MLflow artifacts over 1 MiB) as DVC artifacts of an imported run.

They go into the DVC cache as ``gitexp.log_artifact`` outputs do (artifacts/dvc.py), with
the pointer file at the top of the run's tree and ``.gitexp/artifacts.json`` beside the
metadata, so ``gitexp push`` uploads them and ``dvc pull`` fetches them.  Their path is
``<source>-artifacts/<original id>/<path in the source>``: an imported run has no code
to put them beside, and the path keeps two runs' artifacts apart.
"""

from __future__ import annotations

import hashlib

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.pointers import (
    ARTIFACTS_FILE,
    LOGGED,
    POINTER_PATH,
    Artifact,
    artifacts_json,
    pointer_text,
)
from gitexp.git.repo import MODE_FILE, GitRepo, ObjectId
from gitexp.model import validate
from gitexp.model.record import META_DIR
from gitexp.render.words import plural

Entry = tuple[bytes, int, ObjectId]


def artifact_path(source: str, original_id: str, path: str) -> str:
    """Where a source's artifact goes in the work tree when restored: a path every reader
    accepts (model/validate.py), whatever the source named it."""
    parts = [p if p not in ("", ".", "..") else "_" for p in f"{original_id}/{path}".split("/")]
    candidate = f"{source}-artifacts/" + "/".join(parts)
    if validate.check_path(candidate) is None:
        return candidate
    named = f"{original_id}\0{path}".encode("utf-8", "surrogateescape")
    return f"{source}-artifacts/renamed-{hashlib.sha256(named).hexdigest()[:16]}"


def store_large(
    repo: GitRepo, source: str, original_id: str, large: dict[str, str], notes: list[str]
) -> list[Entry]:
    """The tree entries (pointer file, artifacts.json) for ``large`` (path in the source
    -> local file); a note, and none, when there is no DVC project to keep them in."""
    if not large:
        return []
    if not store_mod.has_project(repo.root):
        notes.append(
            f"{plural(len(large), 'file')} over 1 MiB left out ({', '.join(sorted(large)[:3])}): "
            "this repository has no DVC project; run `dvc init` before importing to keep them"
        )
        return []
    recorded: list[Artifact] = []
    with store_mod.ArtifactStore(repo.root) as store:
        for path, local in sorted(large.items()):
            try:
                digest = store.add(local)
            except OSError as exc:
                notes.append(f"{path} not kept: {exc}")
                continue
            where = artifact_path(source, original_id, path)
            recorded.append(Artifact(where, LOGGED, digest, name=path, type=f"{source}-artifact"))
    if not recorded:
        return []
    pointer = repo.write_blob(pointer_text(recorded).encode())
    listing = repo.write_blob(artifacts_json(recorded).encode())
    return [
        (POINTER_PATH.encode(), MODE_FILE, pointer),
        (f"{META_DIR}/{ARTIFACTS_FILE}".encode(), MODE_FILE, listing),
    ]
