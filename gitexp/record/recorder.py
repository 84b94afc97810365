"""The recorder: turns a run's live folder into commits on ``refs/gitexp/runs/<id>``.

One commit when the run starts (status ``running``), a checkpoint commit whenever the
live data changed and ``CHECKPOINT_SECONDS`` passed, one final commit.  Every commit's
parent is the previous one, so each ref update is a fast-forward made with
compare-and-swap: a stale writer can never replace newer data, and pushes never need
force.  The recorder is the ``gitexp run`` process, or a thread of the training process
when a script calls ``gitexp.init()`` itself; a later gitexp command finalizes the run
as ``crashed`` from the same live folder when its recorder died.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping

from gitexp.git.repo import MODE_FILE, MODE_TREE, GitRepo, ObjectId
from gitexp.media.store import MediaFiles
from gitexp.model import config as configmod
from gitexp.model import history as historymod
from gitexp.model import overrides as overridesmod
from gitexp.model import redact, values
from gitexp.model.output import read_capped
from gitexp.model.record import (
    CRASHED,
    META_DIR,
    REF_PREFIX,
    RUNNING,
    RunInfo,
    commit_message,
    make_row,
    parse_row,
)
from gitexp.record.live import (
    ARTIFACT_REQUESTS,
    RUN_FILES,
    LiveDir,
    RunFiles,
    live_root,
)
from gitexp.record.notcode import max_file_size
from gitexp.record.secrets import newly_redacted
from gitexp.record.snapshot import Snapshot
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any

    from gitexp.model.shapes import HostInfo, LiveState

CHECKPOINT_SECONDS = float(os.environ.get("GITEXP_CHECKPOINT_SECONDS", "30"))

# What ``gitexp.init`` inside a ``gitexp run`` may set on the run (script.json).
_SCRIPT_FIELDS = ("tags", "notes", "group", "job_type", "project")


def run_ref(run_id: str) -> bytes:
    return REF_PREFIX + run_id.encode()


class Recorder:
    """Writes one run's commits from its live folder.  Thread-safe."""

    def __init__(self, repo: GitRepo, live: LiveDir, info: RunInfo, state: LiveState):
        self.repo = repo
        self.live = live
        self.info = info
        self.state = state
        self.head: ObjectId | None = None
        # git's answer for the inputs fingerprint, asked for before the snapshot so that it
        # is ready when the manifest thread needs it (record/starting.py).
        self.inputs_query: Callable[[], list[str] | None] | None = None
        self.history = historymod.History()
        self._history_offset = 0
        self._chunk_blobs: list[ObjectId] = []
        # System metrics (``system.jsonl``, written by the sampler): chunked as the history.
        self.system = historymod.History()
        self._system_offset = 0
        self._system_blobs: list[ObjectId] = []
        # The script's media files: .gitexp/media/ (media/store.py); large ones go to DVC.
        self.media = MediaFiles(lambda: max_file_size(repo))
        # A resumed run's summary overrides from before the resumption (docs/workflow.md).
        self.base_overrides: dict[str, object] = dict(state.get("summary_base") or {})
        self._last_meta_tree: ObjectId | None = None
        self._run_files = RunFiles()  # run.dir, kept under .gitexp/files/
        self._requests_size = 0  # how much of artifacts.jsonl left the snapshot already
        self._last_checkpoint = time.monotonic()
        self._lock = threading.Lock()
        # Secrets (model/redact.py): the config is redacted once per change, not per commit.
        self.allow: tuple[str, ...] = tuple(state.get("allow_secret") or ())
        self.warn: Callable[[str], None] = _warn
        self._raw_config: Any = None
        self._config: dict[str, Any] = {}
        self._warned: set[str] = set()

    # -- starting and reopening ----------------------------------------------------------

    @classmethod
    def begin(
        cls,
        repo: GitRepo,
        info: RunInfo,
        config: dict[str, object],
        snapshot: Snapshot,
        host: HostInfo,
        cli_fields: tuple[str, ...] = (),
        allow: tuple[str, ...] = (),
        warn: Callable[[str], None] | None = None,
        passed: frozenset[str] = frozenset(),
    ) -> Recorder:
        """Create the live folder, write the first commit and create the run's ref.

        ``allow``: ``gitexp.allowSecret`` (values kept although they look secret).
        """
        live = LiveDir(os.path.join(live_root(repo.commondir), info.id))
        live.create()
        tree = repo.write_tree(snapshot.files)
        state: LiveState = {
            "snapshot_tree": tree.decode(),
            "cli_fields": list(cli_fields),
            "allow_secret": list(allow),
            "passed": sorted(passed),
            "snapshot": {
                "dirty": snapshot.dirty,
                "modified": len(snapshot.modified),
                "deleted": len(snapshot.deleted),
                "untracked": len(snapshot.untracked),
                "skipped": [item.as_json() for item in snapshot.skipped],
            },
        }
        if snapshot.submodules:
            state["snapshot"]["submodules"] = snapshot.submodules
        live.write_json("state.json", state)
        live.write_json("run.json", values.loads(info.to_json()))
        live.write_json("config.json", config)
        live.write_json("hardware.json", {"host": host, "gpu": None})
        live.claim()
        recorder = cls(repo, live, info, state)
        if warn is not None:
            recorder.warn = warn
        recorder._write("started", create=True)
        return recorder

    @classmethod
    def reopen(cls, repo: GitRepo, live: LiveDir) -> Recorder | None:
        """A recorder for a run whose original recorder is gone (None if nothing to do)."""
        raw_info = live.read_json("run.json")
        state = live.read_json("state.json")
        if not isinstance(raw_info, dict) or not isinstance(state, dict):
            return None
        info = RunInfo.from_json(values.dumps(raw_info))
        head = repo.read_ref(run_ref(info.id))
        if head is None:
            return None
        row = parse_row(repo.commit_message(head))
        if row is None or row.get("status") != RUNNING:
            return None
        recorder = cls(repo, live, info, cast("LiveState", state))
        recorder.head = head
        recorder.warn = _quiet  # the run warned while it ran
        if info.resumes:  # the rows from before the resumption are in git, not in the live folder
            recorder.preload()
        return recorder

    def preload(self) -> None:
        """Feed the history and system chunks committed at ``head`` (a resumed run)."""
        if self.head is None:
            return
        root, _parents, _message = self.repo.commit_info(self.head)
        meta = self.repo.lookup_path(root, META_DIR.encode())
        if meta is not None and meta[0] == MODE_TREE:
            self.media.preload(self.repo, meta[1])
        for folder, history in (("history", self.history), ("system", self.system)):
            found = self.repo.lookup_path(root, f"{META_DIR}/{folder}".encode())
            if found is None or found[0] != MODE_TREE:
                continue
            for name, (_mode, sha) in sorted(self.repo.tree_entries(found[1]).items()):
                if name.endswith(b".jsonl"):
                    history.feed(self.repo.read_blob(sha), final=True)

    # -- writing -------------------------------------------------------------------------

    def checkpoint(self, force: bool = False) -> None:
        """Commit what changed since the last commit, at most every CHECKPOINT_SECONDS."""
        with self._lock:
            if self.info.status != RUNNING:
                return
            if not force and time.monotonic() - self._last_checkpoint < CHECKPOINT_SECONDS:
                return
            self.live.beat()
            self._write("checkpoint")

    def finalize(
        self,
        status: str,
        exit_code: int | None = None,
        signal_name: str | None = None,
        end: float | None = None,
        artifacts: bool | None = None,
    ) -> ObjectId | None:
        """Write the final commit with ``status`` and remove the live folder.

        ``artifacts``: record the run's artifacts (default: unless ``crashed``; a
        recovering command never copies large files).
        """
        with self._lock:
            if self.info.status != RUNNING:
                return self.head
            self.info.status = status
            self.info.exit_code = exit_code
            self.info.signal = signal_name
            self.info.end = end if end is not None else self._guess_end(status)
            if status != CRASHED:  # rows the script logged through TensorBoard or DVCLive
                from gitexp.importers.sync import sync_tools

                self._feed_history(final=False)
                sync_tools(self.live, self.info, self.repo.root, self.history.last_step, self.warn)
            if status != CRASHED if artifacts is None else artifacts:
                self._record_artifacts()
            head = self._write(status, final=True)
            self.live.remove()
            return head

    def _record_artifacts(self) -> None:
        """Outputs and large left-out files into DVC's cache, pointers into the tree."""
        # Only a resumed run has commits from an earlier life that may hold artifacts;
        # a fresh run's own commits have none yet (and reading them costs a store open).
        earlier_head = self.head if self.info.resumes else None
        skipped = self.state.get("snapshot", {}).get("skipped") or []
        large = any(isinstance(item, dict) and item.get("md5") for item in skipped)
        media = self.media.large_files(self.live.path)
        if not (
            earlier_head or large or media or os.path.exists(self.live.file(ARTIFACT_REQUESTS))
        ):
            return  # nothing to keep: the artifact modules need not even be imported
        from gitexp.artifacts.record import collect_artifacts

        self.media.kept_in_dvc(
            collect_artifacts(self.repo, self.live, self.state, earlier_head, media)
        )

    def _leave_out_requested(self) -> None:
        """Outputs the script named (``gitexp.log_artifact``) leave the next commits."""
        try:
            size = os.path.getsize(self.live.file(ARTIFACT_REQUESTS))
        except OSError:
            return  # no request: the common case costs one stat
        if size == self._requests_size:
            return
        self._requests_size = size
        from gitexp.artifacts.record import leave_out_requested

        try:
            leave_out_requested(self.repo, self.live, self.state)
        except Exception as exc:  # an output left in the code never costs the run
            if ":left-out" not in self._warned:
                self._warned.add(":left-out")
                self.warn(f"could not leave the script's outputs out of the run: {exc}")

    def _snapshot_json(self) -> dict[str, object]:
        """snapshot.json: the snapshot's facts, plus the outputs the script named since."""
        snapshot: dict[str, object] = dict(self.state["snapshot"])
        left = self.state.get("left_out")
        if left:
            snapshot["skipped"] = [*self.state["snapshot"].get("skipped", []), *left]
        return snapshot

    def _guess_end(self, status: str) -> float:
        if status != CRASHED:
            return time.time()
        # A crashed run ended when its last sign of life reached the disk.
        stamps = [
            os.stat(self.live.file(name)).st_mtime
            for name in ("heartbeat", "history.jsonl", "output.log")
            if os.path.exists(self.live.file(name))
        ]
        return max(stamps, default=time.time())

    def _write(self, event: str, create: bool = False, final: bool = False) -> ObjectId | None:
        self._merge_script_fields()
        hydra = overridesmod.take_hydra(self.info.extra, self.allow)  # from gitexp.init
        if hydra is not None:
            self.info.hydra = hydra
        config = self._redacted_config(self._config_as_used())
        overrides = {**self.base_overrides, **(self.live.read_json("summary.json") or {})}
        self._feed_history(final)
        self._system_offset += _feed_file(
            self.live.file("system.jsonl"), self._system_offset, self.system, final
        )
        self._leave_out_requested()
        meta_files = self._meta_files(config, overrides, final)
        meta_tree = self.repo.write_tree(meta_files)
        if meta_tree == self._last_meta_tree and not final:
            return self.head
        snapshot_tree = self.state["snapshot_tree"].encode()
        root = self.repo.write_tree_over(snapshot_tree, {META_DIR.encode(): (MODE_TREE, meta_tree)})
        metrics = self.history.row_metrics(overrides, self._metric_definitions())
        row = make_row(self.info, configmod.flatten_config(config), metrics)
        parents = [self.head] if self.head else ([b] if (b := self._baseline()) else [])
        commit = self.repo.write_commit(root, parents, commit_message(self.info, row, event))
        self._warn_redacted()
        ref = run_ref(self.info.id)
        message = f"gitexp: {event}".encode()
        if create:
            if not self.repo.create_ref(ref, commit, message):
                raise RuntimeError(f"run id {self.info.id} exists already")
        elif self.head is None or not self.repo.move_ref(ref, self.head, commit, message):
            raise RuntimeError(f"run {self.info.id} was changed by another process")
        self.head = commit
        self._last_meta_tree = meta_tree
        self._last_checkpoint = time.monotonic()
        return commit

    def _config_as_used(self) -> Any:
        """The live config, each override judged (model/overrides.py): one the script
        reported another value for and never read is recorded as the script reported it."""
        raw = self.live.read_json("config.json") or {}
        given = self.live.read_json("params.json")
        if not (isinstance(given, dict) and given and isinstance(raw, dict)):
            return raw
        seen = self.live.read_json("overrides.json")
        passed = frozenset(self.state.get("passed", ()))
        self.info.overrides, config = overridesmod.judge(raw, given, seen, passed, self.allow)
        return config

    def _redacted_config(self, raw: Any) -> dict[str, Any]:
        """The config as committed: secrets replaced; their keys in run.json."""
        if not isinstance(raw, dict):
            raw = {}
        if raw != self._raw_config:
            self._config, keys = redact.redact_config(raw, self.allow)
            self._raw_config = raw
            if keys:
                self.info.redacted["config"] = keys
            else:
                self.info.redacted.pop("config", None)
        return self._config

    def _warn_redacted(self) -> None:
        """One warning for what is newly redacted: names and positions, never values."""
        message = newly_redacted(self.info.redacted, self._warned)
        if message:
            self.warn(message)

    def _baseline(self) -> ObjectId | None:
        return self.info.baseline.encode() if self.info.baseline else None

    def _merge_script_fields(self) -> None:
        """Take what ``gitexp.init`` reported, unless the command line fixed it."""
        script = self.live.read_json("script.json")
        if not isinstance(script, dict):
            return
        fixed = set(self.state.get("cli_fields", ()))
        if script.get("name") and "name" not in fixed:
            self.info.name = redact.scrub_text(str(script["name"]))
        for key in _SCRIPT_FIELDS:
            if script.get(key) is not None and key not in fixed:
                value = script[key]
                if isinstance(value, str):
                    value = redact.scrub_text(value)
                elif isinstance(value, list):
                    value = [redact.scrub_text(v) if isinstance(v, str) else v for v in value]
                setattr(self.info, key, value)
        if isinstance(script.get("extra"), dict):
            self.info.extra.update(script["extra"])

    def _metric_definitions(self) -> dict[str, object]:
        """define_metric's declarations: they shape the summary (model/summary.py)."""
        found = self.info.extra.get("metric_definitions")
        return found if isinstance(found, dict) else {}

    def _feed_history(self, final: bool) -> None:
        try:
            with open(self.live.file("history.jsonl"), "rb") as handle:
                handle.seek(self._history_offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._history_offset += self.history.feed(data, final=final)

    def _meta_files(
        self, config: dict[str, object], overrides: Mapping[str, object], final: bool = True
    ) -> list[tuple[bytes, int, ObjectId]]:
        blob = self.repo.write_blob
        files: dict[str, bytes] = {
            "run.json": self.info.to_json().encode(),
            "config.yaml": configmod.dump_yaml(config).encode(),
            "metrics.json": (
                values.dumps(
                    self.history.summary_json(overrides, self._metric_definitions()), indent=2
                )
                + "\n"
            ).encode(),
            "snapshot.json": (values.dumps(self._snapshot_json(), indent=2) + "\n").encode(),
        }
        hardware = self.live.read_json("hardware.json")
        if hardware is not None:
            files["hardware.json"] = (values.dumps(hardware, indent=2) + "\n").encode()
        packages = _read_bytes(self.live.file("packages.txt"))
        if packages is not None:
            files["packages.txt"] = packages
        inputs = _read_bytes(self.live.file("inputs.json"))
        if inputs is not None:
            files["inputs.json"] = inputs
        artifacts = _read_bytes(self.live.file("artifacts.json"))  # artifacts/record.py
        if artifacts is not None:
            files["artifacts.json"] = artifacts
        # What the script wrote there itself (sdk/lineagelog.py, sdk/alerts.py); 0.3
        for name in ("lineage.json", "alerts.jsonl"):
            kept = _read_bytes(self.live.file(name))
            if kept is not None:
                files[name] = kept
        output = read_capped(self.live.file("output.log"), final=final)
        if output is not None:
            files["output.log"] = output
        entries = [(name.encode(), MODE_FILE, blob(data)) for name, data in files.items()]
        chunk_paths = self._chunks("history", self.history, self._chunk_blobs)
        chunk_paths += self._chunks("system", self.system, self._system_blobs)
        chunk_paths += self.media.entries(self.live.path, blob, final)
        # gitexp.save's copies (sdk/saving.py) and run.dir, both under files/
        chunk_paths += self._run_files.entries(
            self.repo, self.live.file("saved"), self.live.file(RUN_FILES)
        )
        for number, resume in enumerate(self.info.resumes, 1):
            snapshot = resume.get("snapshot")
            if isinstance(snapshot, str):  # keeps the changed code reachable
                chunk_paths.append((f"resumes/{number}".encode(), MODE_TREE, snapshot.encode()))
        return sorted(entries + chunk_paths)

    def _chunks(
        self, folder: str, history: historymod.History, blobs: list[ObjectId]
    ) -> list[tuple[bytes, int, ObjectId]]:
        for _index, chunk in history.take_full_chunks():
            blobs.append(self.repo.write_blob(chunk))
        paths = [
            (f"{folder}/{historymod.chunk_name(i)}".encode(), MODE_FILE, sha)
            for i, sha in enumerate(blobs)
        ]
        current = history.current_chunk()
        if current is not None:
            index, data = current
            name = f"{folder}/{historymod.chunk_name(index)}".encode()
            paths.append((name, MODE_FILE, self.repo.write_blob(data)))
        return paths


def _warn(message: str) -> None:
    warnings.warn(f"gitexp: {message}", stacklevel=2)


def _quiet(message: str) -> None:
    """No warning: a run recovered after a crash was warned about while it ran."""


def _feed_file(path: str, offset: int, history: historymod.History, final: bool) -> int:
    """Feed the whole lines of ``path`` after ``offset`` to ``history``; bytes used."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return 0
    return history.feed(data, final=final)


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
