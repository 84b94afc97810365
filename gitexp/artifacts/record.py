"""Recording artifacts when a run ends: into DVC's cache, pointers into the run's tree.

Requests reach the run's live folder as lines of ``artifacts.jsonl`` (``gitexp run
--out`` writes them before the command starts, ``gitexp.log_artifact`` from inside the
script); untracked files the snapshot left out as too large come from the snapshot
state.  At the final commit the recorder calls :func:`collect_artifacts`: each file or
folder is copied into the DVC cache as it is *then* (the work tree is never changed),
the snapshot tree gets the pointer file ``.gitexp-artifacts.dvc`` (and loses whatever it
held at an output's path: the output supersedes it), and ``artifacts.json`` is written
for the recorder to commit under ``.gitexp/``.

A failure here is a warning: it costs the artifacts, never the run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.plugins import dvc_missing, dvc_unavailable_error
from gitexp.artifacts.pointers import (
    ARTIFACTS_FILE,
    KINDS,
    LARGE_FILE,
    LOGGED,
    MEDIA,
    OUTPUT,
    POINTER_PATH,
    Artifact,
    artifacts_json,
    in_work_tree,
    pointer_text,
    run_artifacts,
    under,
)
from gitexp.git.repo import MODE_FILE, MODE_TREE, GitRepo, ObjectId
from gitexp.model import values
from gitexp.model.record import META_DIR
from gitexp.record.live import ARTIFACT_REQUESTS, LiveDir
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.model.shapes import LiveState

REQUESTS_FILE = ARTIFACT_REQUESTS


def warn(message: str) -> None:
    print(f"gitexp: warning: {message}", file=sys.stderr, flush=True)


def repo_path(root: str, path: str, cwd: str | None = None) -> str:
    """``path`` (relative to ``cwd``) as a "/"-separated path inside the repository.

    Raises ValueError when it is outside the work tree, the root itself, or reserved.
    """
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
    real_root = os.path.realpath(root)
    resolved = os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
    rel = os.path.relpath(resolved, real_root)
    if rel == "." or rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
        raise ValueError(f"{path}: an artifact must be a file or folder inside {root}")
    rel = rel.replace(os.sep, "/")
    first = rel.split("/")[0]
    if first in (META_DIR, ".git", ".dvc") or rel == POINTER_PATH:
        raise ValueError(f"{path}: {first} is reserved and cannot be an artifact")
    return rel


def request(
    live_path: str, path: str, kind: str, name: str | None = None, type_: str | None = None
) -> None:
    """Ask the recorder to keep ``path`` (absolute) as an artifact when the run ends."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    line = values.dumps({"path": path, "kind": kind, "name": name, "type": type_})
    with open(os.path.join(live_path, REQUESTS_FILE), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _requests(live: LiveDir) -> list[dict[str, object]]:
    try:
        with open(live.file(REQUESTS_FILE), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    latest: dict[str, dict[str, object]] = {}  # the last request for a path wins
    for line in lines:
        try:
            item = values.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            latest.pop(item["path"], None)
            latest[item["path"]] = item
    return list(latest.values())


def collect_artifacts(
    repo: GitRepo,
    live: LiveDir,
    state: LiveState,
    head: ObjectId | None = None,
    media: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """Record the run's artifacts (see the module docstring); warnings, never exceptions.

    ``head`` is the run's latest commit: a resumed run keeps the artifacts its earlier
    life recorded, unless it records the same paths again.  ``media``: (path in the
    run's tree, file) of the media files too large for git (media/store.py); returns
    the paths of those DVC now keeps (the others the recorder commits into git).
    """
    try:
        return _collect(repo, live, state, _earlier(repo, head), media)
    except Exception as exc:  # never lose the run's final commit over its artifacts
        warn(f"could not record the run's artifacts: {exc}")
        return []


def _earlier(repo: GitRepo, head: ObjectId | None) -> list[Artifact]:
    """The artifacts of the run's latest commit that has some (a resumed run's)."""
    while head is not None:
        root, parents, _message = repo.commit_info(head)
        if repo.lookup_path(root, f"{META_DIR}/run.json".encode()) is None:
            return []  # past the run's first commit: the baseline
        found = run_artifacts(repo, head)
        if found:
            return found
        head = parents[0] if parents else None
    return []


def _collect(
    repo: GitRepo,
    live: LiveDir,
    state: LiveState,
    earlier: list[Artifact],
    media: Sequence[tuple[str, str]],
) -> list[str]:
    wanted = _wanted(repo.root, _requests(live))
    skipped = state.get("snapshot", {}).get("skipped") or []
    large = [
        item
        for item in skipped
        if isinstance(item, dict) and item.get("reason") == "too-large" and item.get("md5")
    ]
    large = [item for item in large if not any(under(str(item["path"]), w[0]) for w in wanted)]
    if not wanted and not large and not earlier and not media:
        return []
    recorded: list[Artifact] = []
    if (wanted or large or media) and store_mod.has_project(repo.root):
        recorded = _record(repo, wanted, large, media)
    elif wanted:
        error = store_mod.no_project_error(repo.root)
        warn(f"{plural(len(wanted), 'artifact')} not recorded: {error.message}\n  {error.hint}")
    paths = {item.path for item in recorded}
    recorded += [item for item in earlier if not any(under(item.path, p) for p in paths)]
    if not recorded:
        return []
    in_tree = in_work_tree(recorded)  # media files live in .gitexp/, never in the work tree
    changes: dict[bytes, tuple[int, bytes] | None] = {
        item.path.encode(): None for item in in_tree if item.kind != LARGE_FILE
    }
    if in_tree:
        changes[POINTER_PATH.encode()] = (
            MODE_FILE,
            repo.write_blob(pointer_text(in_tree).encode()),
        )
    tree = repo.edit_tree(state["snapshot_tree"].encode(), changes)
    state["snapshot_tree"] = tree.decode()
    with open(live.file(ARTIFACTS_FILE), "w", encoding="utf-8") as handle:
        handle.write(artifacts_json(recorded))
    live.write_json("state.json", state)
    return [item.path for item in recorded if item.kind == MEDIA]


def _record(
    repo: GitRepo,
    wanted: list[tuple[str, str, str | None, str | None]],
    large: list[dict[str, object]],
    media: Sequence[tuple[str, str]],
) -> list[Artifact]:
    """Copy each wanted path, each unchanged large file and each large media file into
    the DVC cache."""
    recorded: list[Artifact] = []
    with store_mod.ArtifactStore(repo.root) as store:
        for path, source in media:
            try:  # a failure leaves the file to git: the recorder commits it
                recorded.append(Artifact(path, MEDIA, store.add(source)))
            except OSError as exc:
                warn(f"media file {path} kept in git, not in DVC: {exc}")
        for rel, kind, name, type_ in wanted:
            try:
                digest = store.add(os.path.join(repo.root, rel))
            except OSError as exc:
                warn(f"artifact {rel} not recorded: {exc}")
                continue
            recorded.append(Artifact(rel, kind, digest, name, type_))
        for item in large:
            path = str(item["path"])
            try:
                digest = store.add(os.path.join(repo.root, path))
            except OSError as exc:
                warn(f"{path} (left out of the snapshot as too large) not kept: {exc}")
                continue
            if digest.md5 != item["md5"]:
                warn(f"{path} changed during the run: its content at the start is not kept")
                continue
            recorded.append(Artifact(path, LARGE_FILE, digest))
            item["artifact"] = True  # snapshot.json: kept as an artifact after all
    return recorded


def _wanted(
    root: str, requests: list[dict[str, object]]
) -> list[tuple[str, str, str | None, str | None]]:
    """(path, kind, name, type) of the requested artifacts that exist; nested ones dropped."""
    found: list[tuple[str, str, str | None, str | None]] = []
    for item in requests:
        try:
            rel = repo_path(root, str(item["path"]), root)
        except ValueError as exc:
            warn(str(exc))
            continue
        if not os.path.exists(os.path.join(root, rel)):
            warn(f"artifact {rel} does not exist at the end of the run: not recorded")
            continue
        kind = str(item.get("kind") or OUTPUT)
        name = item.get("name")
        type_ = item.get("type")
        found.append(
            (
                rel,
                kind if kind in (OUTPUT, LOGGED) else OUTPUT,
                str(name) if name is not None else None,
                str(type_) if type_ is not None else None,
            )
        )
    kept: list[tuple[str, str, str | None, str | None]] = []
    for entry in sorted(found, key=lambda entry: entry[0].count("/")):
        parent = next((k for k in kept if under(entry[0], k[0])), None)
        if parent is not None:
            if parent[0] != entry[0]:
                warn(f"artifact {entry[0]} is inside artifact {parent[0]}: kept as part of it")
            continue
        kept.append(entry)
    return sorted(kept)


def check_outputs(root: str, paths: list[str], cwd: str | None = None) -> list[str]:
    """Validate ``gitexp run --out`` paths before the command starts; absolute paths.

    A path must be inside the work tree (it need not exist yet); the repository must
    hold a DVC project, whose cache keeps the content.
    """
    from gitexp.errors import UsageError

    if not paths:
        return []
    out: list[str] = []
    for path in paths:
        try:
            rel = repo_path(root, path, cwd)
        except ValueError as exc:
            raise UsageError(str(exc), "Name a file or folder the run writes.") from None
        out.append(os.path.join(root, rel))
    if not store_mod.has_project(root):
        raise store_mod.no_project_error(root)
    missing = dvc_missing()
    if missing is not None:  # found before the command runs, not after hours of training
        raise dvc_unavailable_error(f"no module named {missing!r}")
    return out


def leave_out_requested(repo: GitRepo, live: LiveDir, state: LiveState) -> bool:
    """Take the untracked content of every requested path out of the snapshot tree that
    the run's next commits use; True when the tree changed.

    A path a script names (``gitexp.log_artifact``) is an output, not code, from then
    on: its checkpoint and final commits leave it out, listed in snapshot.json as
    ``output`` (``state["left_out"]``).  The first commit was written before the script
    said so.  Tracked files stay, as the snapshot keeps them (the final commit replaces
    them by the artifact when DVC records it).  ``--out`` paths, left out of the
    snapshot already, change nothing here.
    """
    tree = state["snapshot_tree"].encode()
    left = state.setdefault("left_out", [])
    known = {item.get("path") for item in left}
    index = None
    changes: dict[bytes, tuple[int, bytes] | None] = {}
    for item in _requests(live):
        try:
            rel = repo_path(repo.root, str(item["path"]), repo.root)
        except ValueError:
            continue  # the final commit warns about it
        found = repo.lookup_path(tree, rel.encode())
        if rel in known or found is None:
            continue
        index = repo.read_index() if index is None else index
        paths = (
            [path for path, _mode, _sha in repo.iter_files(found[1], rel.encode() + b"/")]
            if found[0] == MODE_TREE
            else [rel.encode()]
        )
        untracked = [path for path in paths if path not in index]
        if untracked:
            changes.update(dict.fromkeys(untracked))
            left.append({"path": rel, "reason": OUTPUT})
            known.add(rel)
    if not changes:
        return False
    state["snapshot_tree"] = repo.edit_tree(tree, changes).decode()
    live.write_json("state.json", state)
    return True


def request_outputs(live_path: str, paths: list[str]) -> None:
    for path in paths:
        request(live_path, path, OUTPUT)
