"""Starting a run: snapshot, run record, first commit; then the slow facts off the hot path.

Shared by ``gitexp run`` and by ``gitexp.init()`` in a script run without the wrapper.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from gitexp._version import __version__
from gitexp.adapters.git import GitRepo
from gitexp.core import manifest
from gitexp.core.ids import new_run_id, new_run_name
from gitexp.core.record import RUNNING, RunInfo
from gitexp.core.recorder import Recorder
from gitexp.core.snapshot import SkippedFile, Snapshot, fill_skipped_hashes, take_snapshot


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
    cli_fields: tuple[str, ...] = (),
    warn: Callable[[str], None] | None = None,
    rerun_of: str | None = None,
    run_id: str | None = None,
) -> tuple[Recorder, Snapshot]:
    """Snapshot the workspace and create the run's ref (status ``running``)."""
    snapshot = take_snapshot(repo, include)
    for message in snapshot.warnings:
        (warn or _warn)(message)
    cwd = os.path.relpath(os.getcwd(), repo.root)
    info = RunInfo(
        id=run_id or new_run_id(),
        name=name or new_run_name(),
        status=RUNNING,
        command=command,
        cwd="" if cwd == "." else cwd.replace(os.sep, "/"),  # "../x": started outside the repo
        start=time.time(),
        baseline=snapshot.baseline.decode() if snapshot.baseline else None,
        branch=repo.head_branch(),
        dirty=snapshot.dirty,
        tags=list(tags or []),
        notes=notes,
        group=group,
        source=source,
        host=socket.gethostname(),
        extra=dict(extra or {}),
        gitexp_version=__version__,
        rerun_of=rerun_of,
    )
    recorder = Recorder.begin(
        repo, info, config, snapshot, manifest.collect_host(), cli_fields=cli_fields
    )
    return recorder, snapshot


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
    _write_inputs(recorder)
    gpu = manifest.collect_gpus()
    hardware = live.read_json("hardware.json") or {}
    hardware["gpu"] = gpu
    live.write_json("hardware.json", hardware)
    if packages and not os.path.exists(live.file("packages.txt")):
        _write_text(
            live.file("packages.txt"), manifest.format_packages(manifest.collect_packages())
        )
    if any(item.reason == "too-large" for item in skipped):
        fill_skipped_hashes(recorder.repo.root, skipped)
        recorder.state["snapshot"]["skipped"] = [item.as_json() for item in skipped]


def _write_inputs(recorder: Recorder) -> None:
    """``inputs.json``: the ignored files the run could read (first: it is usually quick)."""
    from gitexp.core import inputs, values

    # A fingerprint is a hint for `gitexp rerun`: it never costs the other facts or the run.
    with contextlib.suppress(Exception):
        text = values.dumps(inputs.take_fingerprint(recorder.repo)) + "\n"
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
