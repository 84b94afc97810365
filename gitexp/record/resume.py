"""Resuming a run: continue a crashed, interrupted or preempted run under the same id.

A resumption appends to the run's own history: one ``resumed`` commit (status
``running`` again) whose parent is the run's last commit, so the update is a
fast-forward like every other, made by compare-and-swap.  The run keeps its id, its
start, its original workspace snapshot as the commit tree, its config and every row
logged so far; the new recorder preloads those rows from git, and the training
process's steps continue after the last one.  Each resumption is recorded in
``run.json`` (``resumes``): when, from which step, on which host, and whether the code
changed since the run started (the new snapshot is then kept under
``.gitexp/resumes/<n>/``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from gitexp.errors import FormatError, RepositoryStateError, UnknownRunError
from gitexp.git.repo import MODE_FILE, MODE_TREE, GitRepo, ObjectId
from gitexp.model import config as configmod
from gitexp.model import redact, validate, values
from gitexp.model.record import META_DIR, RUNNING, RunInfo, parse_row
from gitexp.record import manifest
from gitexp.record.live import LiveDir, hostname, live_root
from gitexp.record.recorder import Recorder, run_ref
from gitexp.record.snapshot import Snapshot, take_snapshot
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any

    from gitexp.model.shapes import LiveState, SnapshotFile

RESUME_MODES = ("allow", "must", "never")


def run_exists(repo: GitRepo, run_id: str) -> bool:
    return repo.read_ref(run_ref(run_id)) is not None


def resume_run(
    repo: GitRepo,
    run_id: str,
    *,
    config: dict[str, object] | None = None,
    include: frozenset[str] = frozenset(),
    outputs: frozenset[str] = frozenset(),
    cli_fields: tuple[str, ...] = (),
    warn: Callable[[str], None] | None = None,
) -> tuple[Recorder, Snapshot, dict[str, object]]:
    """Reopen run ``run_id`` for recording; returns its recorder, the new snapshot and config.

    ``config`` (``--config`` / ``-p`` given to the resuming command) is merged over the
    recorded config.  Call ``recover_stale_runs`` first, so that a crashed run whose
    live folder is still here is finalized before it is resumed.
    """
    head = repo.read_ref(run_ref(run_id))
    if head is None:
        raise UnknownRunError(
            f"no run {run_id} to resume", "See the runs with `gitexp ls` (the full id is needed)."
        )
    # A pulled run is a teammate's input: its files are reopened (and some copied into the
    # live folder) only once it passed the checks every read of a run goes through.
    from gitexp.read.trust import verdict

    problem = verdict(repo, run_id, head)
    if problem:
        raise FormatError(
            f"run {run_id} is quarantined: {problem}",
            f"gitexp will not resume it; inspect it with `git show {run_ref(run_id).decode()}`.",
        )
    live = LiveDir(os.path.join(live_root(repo.commondir), run_id))
    root, _parents, message = repo.commit_info(head)
    row = parse_row(message) or {}
    if live.exists() or row.get("status") == RUNNING:
        raise RepositoryStateError(
            f"run {run_id} is still running (recorded on {row.get('host') or 'a host'} "
            "that has not finished it)",
            "Wait for it to end, or stop it; a crashed run is finalized by the next gitexp "
            "command on the machine that recorded it.",
        )
    info = RunInfo.from_json(_meta_text(repo, root, "run.json", run_id))
    recorded_config = configmod.load_yaml(_meta_text(repo, root, "config.yaml", run_id) or "{}")
    _put_secrets_back(recorded_config, info.redacted, config or {}, warn)
    merged = configmod.deep_merge(recorded_config, config or {})
    metrics = _meta_json(repo, root, "metrics.json")
    snapshot = take_snapshot(repo, include, outputs)
    for text in snapshot.warnings:
        if warn is not None:
            warn(text)
    new_tree = repo.write_tree(snapshot.files)
    recorded_snapshot: SnapshotFile = cast("SnapshotFile", _meta_json(repo, root, "snapshot.json"))
    code_changed = _workspace_entries(repo, root) != _workspace_entries(repo, new_tree)
    state: LiveState = {
        "snapshot_tree": root.decode(),  # the original snapshot; .gitexp/ is replaced
        "cli_fields": list(cli_fields),
        "allow_secret": repo.config_values("gitexp", "allowSecret"),
        "snapshot": recorded_snapshot,
        "summary_base": _summary_overrides(metrics),
    }
    recorder = Recorder(repo, live, info, state)
    recorder.head = head
    recorder.preload()
    last_step = recorder.history.last_step
    info.status = RUNNING
    info.end = info.exit_code = info.signal = None
    info.resumes.append(
        {
            "time": time.time(),
            "from_step": 0 if last_step is None else last_step + 1,
            "code_changed": code_changed,
            "snapshot": new_tree.decode() if code_changed else None,
            "host": hostname(),
        }
    )
    live.create()
    live.write_json("state.json", state)
    live.write_json("run.json", values.loads(info.to_json()))
    live.write_json("config.json", merged)
    live.write_json("hardware.json", {"host": manifest.collect_host(), "gpu": None})
    _carry_output(repo, root, live, info.resumes[-1]["from_step"])
    _carry_kept(repo, root, live)
    live.claim()
    recorder._write("resumed")
    return recorder, snapshot, merged


def _put_secrets_back(
    recorded: dict[str, Any],
    redacted: dict[str, Any],
    given: dict[str, Any],
    warn: Callable[[str], None] | None,
) -> None:
    """The recorded config holds placeholders where it had secrets: each comes back from
    ``GITEXP_SECRET_<KEY>``.  Without one, a key the script sets itself is left to it; a
    key ``gitexp run`` was given (``-p``, ``--config``) keeps its placeholder, with a
    warning, so that the record still says it was there."""
    flat = configmod.flatten_config(given)
    params = set(redacted.get("params") or [])
    missing = []
    for key in redacted.get("config") or []:
        if not isinstance(key, str) or key in flat:
            continue
        secret = os.environ.get(redact.env_name(key))
        if secret is not None or key not in params:
            redact.put_back(recorded, key, secret)
        else:
            missing.append(redact.env_name(key))
    if missing and warn is not None:
        warn(
            f"the run's redacted config has no value for {', '.join(missing)}: the command "
            "gets the placeholder (set each variable, or give the value with -p)"
        )


def _meta_text(repo: GitRepo, root: ObjectId, name: str, run_id: str) -> str:
    data = repo.read_file(root, f"{META_DIR}/{name}")
    if data is None:
        if name == "config.yaml":
            return ""
        raise FormatError(f"run {run_id} has no {META_DIR}/{name}; it cannot be resumed")
    return data.decode("utf-8", "replace")


def _meta_json(repo: GitRepo, root: ObjectId, name: str) -> dict[str, object]:
    data = repo.read_file(root, f"{META_DIR}/{name}")
    try:
        loaded = values.loads(data.decode("utf-8")) if data else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _workspace_entries(repo: GitRepo, tree: ObjectId) -> dict[bytes, tuple[int, ObjectId]]:
    entries = repo.tree_entries(tree)
    entries.pop(META_DIR.encode(), None)
    return entries


def _summary_overrides(metrics: Mapping[str, object]) -> dict[str, object]:
    """The ``run.summary[...]`` values a script set: those ``explicit`` names (since 0.3;
    a define_metric summary also differs from the last value), else those that differ
    from the last logged value."""
    summary, stats = metrics.get("summary"), metrics.get("metrics")
    summary = summary if isinstance(summary, dict) else {}
    explicit = metrics.get("explicit")
    if isinstance(explicit, list):
        return {key: summary[key] for key in explicit if isinstance(key, str) and key in summary}
    stats = stats if isinstance(stats, dict) else {}
    overrides: dict[str, object] = {}
    for key, value in summary.items():
        entry = stats.get(key)
        if not isinstance(entry, dict) or values.dumps(entry.get("last")) != values.dumps(value):
            overrides[key] = value
    return overrides


def _carry_kept(repo: GitRepo, root: ObjectId, live: LiveDir) -> None:
    """What the script kept before (0.3: its lineage, alerts and saved files) goes on in
    the live folder, so the resumed life adds to it instead of replacing it."""
    for name in ("lineage.json", "alerts.jsonl"):
        data = repo.read_file(root, f"{META_DIR}/{name}")
        if data is not None:
            with open(live.file(name), "wb") as handle:
                handle.write(data)
    found = repo.lookup_path(root, f"{META_DIR}/files".encode())
    if found is None or found[0] != MODE_TREE:
        return
    for path, mode, sha in repo.iter_files(found[1], b""):
        if mode != MODE_FILE:
            continue  # gitexp.save commits plain files only
        text = path.decode("utf-8", "surrogateescape")
        if validate.check_path(text):
            continue  # never written outside the live folder
        target = os.path.join(live.file("saved"), *text.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(repo.read_blob(sha))


def _carry_output(repo: GitRepo, root: ObjectId, live: LiveDir, from_step: int) -> None:
    """The recorded output goes on in the live log, with a line marking the resumption."""
    old = repo.read_file(root, f"{META_DIR}/output.log") or b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    marker = f"[gitexp: resumed at {stamp} from step {from_step}]\n".encode()
    with open(live.file("output.log"), "wb") as handle:
        handle.write(old + marker)
