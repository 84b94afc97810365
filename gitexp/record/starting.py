"""Starting a run: snapshot, run record, first commit; then the slow facts off the hot path.

Shared by ``gitexp run`` and by ``gitexp.init()`` in a script run without the wrapper.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Callable

from gitexp._version import __version__
from gitexp.git.repo import GitRepo
from gitexp.model import redact
from gitexp.model.ids import new_run_id, new_run_name
from gitexp.model.macros import Expansion, expand, uses_macros
from gitexp.model.record import RUNNING, RunInfo
from gitexp.record import manifest
from gitexp.record.live import ARTIFACT_REQUESTS, hostname
from gitexp.record.recorder import Recorder
from gitexp.record.snapshot import SkippedFile, Snapshot, fill_skipped_hashes, take_snapshot
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def start_run(
    repo: GitRepo,
    *,
    command: list[str],
    config: dict[str, Any],
    source: str,
    name: str | None = None,
    tags: list[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    extra: dict[str, Any] | None = None,
    include: frozenset[str] = frozenset(),
    outputs: frozenset[str] = frozenset(),
    cli_fields: tuple[str, ...] = (),
    warn: Callable[[str], None] | None = None,
    rerun_of: str | None = None,
    run_id: str | None = None,
    macros: Expansion | None = None,
) -> tuple[Recorder, Snapshot]:
    """Snapshot the workspace and create the run's ref (status ``running``).

    ``macros``: what :func:`expand_command` made ``command`` from (the template, and the
    config keys its ``${args}`` put on the command line).
    ``outputs``: the run's ``--out`` paths (from the repository root), left out of it.
    """
    from gitexp.git import binary as gitbin
    from gitexp.git.binary import GitAnswers
    from gitexp.record import inputs

    # git lists the ignored entries (for the snapshot and the inputs fingerprint) and
    # reads the config on another core while the snapshot starts: GitRepo.use_git_answers.
    asked_ns = time.time_ns()
    inputs_query = inputs.start_roots_query(repo)
    repo.use_git_answers(GitAnswers(asked_ns, gitbin.config_list(repo.root), inputs_query))
    snapshot = take_snapshot(repo, include, outputs)
    for message in snapshot.warnings:
        (warn or _warn)(message)
    cwd = os.path.relpath(os.getcwd(), repo.root)
    allow = tuple(repo.config_values("gitexp", "allowSecret"))
    command, redacted = secrets_of_start(command, config, source, allow)
    scrub = redact.scrub_text
    info = RunInfo(
        id=run_id or new_run_id(),
        name=scrub(name) if name else new_run_name(),
        status=RUNNING,
        command=command,
        cwd="" if cwd == "." else cwd.replace(os.sep, "/"),  # "../x": started outside the repo
        start=time.time(),
        baseline=snapshot.baseline.decode() if snapshot.baseline else None,
        branch=repo.head_branch(),
        dirty=snapshot.dirty,
        tags=[scrub(tag) for tag in tags or []],
        notes=scrub(notes) if notes else notes,
        group=scrub(group) if group else group,
        source=source,
        host=hostname(),
        extra=dict(extra or {}),
        gitexp_version=__version__,
        rerun_of=rerun_of,
        redacted=redacted,
        command_template=(
            redact.redact_command(macros.template, allow)[0] if macros and macros.template else None
        ),
    )
    recorder = Recorder.begin(
        repo,
        info,
        config,
        snapshot,
        manifest.collect_host(),
        cli_fields=cli_fields,
        allow=allow,
        warn=warn or _warn,
        passed=macros.passed if macros else frozenset(),
    )
    recorder.inputs_query = inputs_query
    return recorder, snapshot


def secrets_of_start(
    command: list[str], config: dict[str, Any], source: str, allow: tuple[str, ...]
) -> tuple[list[str], dict[str, Any]]:
    """The command as recorded, and run.json's ``redacted`` as the run starts.

    ``params``: the config keys redacted in what ``gitexp run`` was given (``-p``,
    ``--config``), which a rerun must be given again; a script's own config keys are
    set by the script again when it reruns.
    """
    recorded, positions = redact.redact_command(command, allow)
    redacted: dict[str, Any] = {}
    if positions:
        redacted["command"] = positions
    if source == "cli" and config:
        _config, params = redact.redact_config(config, allow)
        if params:
            redacted["params"] = params
    return recorded, redacted


def _warn(message: str) -> None:
    warnings.warn(f"gitexp: {message}", stacklevel=3)


SLOW_FACTS_WAIT = 10.0  # the final commit waits this long for the GPU query and package list


def collect_slow_facts(
    recorder: Recorder, skipped: list[SkippedFile], packages: bool = True
) -> None:
    """GPU query, package list and large-file hashes: run in a background thread.

    A failure here (a live folder removed under us, a full disk) is a warning: it only
    costs facts about the run, never the run itself.
    """
    try:
        _collect(recorder, skipped, packages)
    except Exception as exc:  # a background thread must never print a traceback
        warnings.warn(f"gitexp: could not record the hardware and packages: {exc}", stacklevel=1)


def _collect(recorder: Recorder, skipped: list[SkippedFile], packages: bool) -> None:
    live = recorder.live
    large = any(item.reason == "too-large" for item in skipped)
    _preload_artifact_store(recorder, large)
    # Hashing large files is the long part and leaves the GIL free: it runs beside the rest.
    hashing = (
        _in_thread(lambda: fill_skipped_hashes(recorder.repo.root, skipped)) if large else None
    )
    try:
        _write_inputs(recorder)
        gpu = manifest.collect_gpus()
        hardware = live.read_json("hardware.json") or {}
        hardware["gpu"] = gpu
        live.write_json("hardware.json", hardware)
        if packages and not os.path.exists(live.file("packages.txt")):
            _write_text(
                live.file("packages.txt"), manifest.format_packages(manifest.collect_packages())
            )
    finally:
        if hashing is not None:
            hashing()
            recorder.state["snapshot"]["skipped"] = [item.as_json() for item in skipped]


def _preload_artifact_store(recorder: Recorder, large: bool) -> None:
    """Import DVC now, in the background, when ``gitexp run`` will record artifacts at the
    end (``--out``, or large untracked files and a DVC project): the final commit then
    need not wait for the import.  Never in a script's own process (``gitexp.init()``
    without the wrapper), whose start-up and forks it would slow down."""
    if recorder.info.source != "cli" or not os.path.isdir(os.path.join(recorder.repo.root, ".dvc")):
        return  # no DVC project (adapters.artifacts.has_project), nothing to import for
    if large or os.path.exists(recorder.live.file(ARTIFACT_REQUESTS)):
        from gitexp.artifacts import dvc as store_mod

        store_mod.preload()


def _in_thread(target: Callable[[], None]) -> Callable[[], None]:
    """Start ``target`` in a thread; the function returned waits for it and raises what
    it raised."""
    failed: list[BaseException] = []

    def work() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised by the waiting thread
            failed.append(exc)

    thread = start_background(work, "gitexp-hash")

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]

    return wait


def _write_inputs(recorder: Recorder) -> None:
    """``inputs.json``: the ignored files the run could read (first: it is usually quick)."""
    from gitexp.model import values
    from gitexp.record import inputs

    # A fingerprint is a hint for `gitexp rerun`: it never costs the other facts or the run.
    with contextlib.suppress(Exception):
        text = values.dumps(inputs.take_fingerprint(recorder.repo, recorder.inputs_query))
        text += "\n"
        _write_text(recorder.live.file("inputs.json"), text)


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def start_background(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def expand_command(repo: GitRepo, command: list[str], config: dict[str, Any]) -> Expansion:
    """``command`` with its ``${args}``-style macros replaced by ``config`` (model/macros.py)."""
    if not uses_macros(command):
        return Expansion(command, frozenset())

    def json_file(text: str) -> str:
        # Named by content under .git/gitexp/args/: a rerun or a sweep trial with the same
        # config shares the file, and nothing lands in the work tree (it is not code).
        import hashlib

        folder = os.path.join(repo.commondir, "gitexp", "args")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, hashlib.sha1(text.encode()).hexdigest()[:16] + ".json")
        if not os.path.exists(path):
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(path + ".tmp", path)
        return path

    return expand(command, config, json_file=json_file)
