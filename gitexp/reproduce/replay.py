"""Rerunning a run: its command again in an isolated checkout of its code, recorded as a
new run (``rerun_of`` names the original), then judged against the original."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from gitexp.errors import RepositoryStateError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.model.ids import short_id
from gitexp.model.record import REF_PREFIX, RUNNING
from gitexp.read.listing import list_runs
from gitexp.read.runview import RunView, load_run
from gitexp.record import inputs as inputsmod
from gitexp.reproduce import rerun as rerunmod
from gitexp.reproduce import verdict as verdictmod
from gitexp.reproduce.restore import snapshot_files
from gitexp.slotted import Slotted

RECORDED_HERE = "gitexp: started"  # the first reflog message of a run recorded in this clone


def recorded_here(repo: GitRepo, run_id: str) -> bool:
    """Whether this clone recorded the run (its ref's own reflog says so), rather than
    received it from a remote, whose recorded command is someone else's code."""
    return repo.first_reflog_message(REF_PREFIX + run_id.encode()) == RECORDED_HERE


class Tolerance(Slotted):
    """How closely a rerun's summary metrics must match the original's."""

    _fields = ("rtol", "atol", "include_timing", "ignore")
    __slots__ = _fields

    def __init__(
        self, rtol: float, atol: float, include_timing: bool, ignore: list[str] | None
    ) -> None:
        self.rtol, self.atol, self.include_timing = rtol, atol, include_timing
        self.ignore = ignore or []


def rerun_and_judge(
    repo: GitRepo,
    original: RunView,
    overrides: list[tuple[list[str], Any]],
    name: str | None,
    tolerance: Tolerance,
    say: Callable[[str], None],
    ask_secret: Callable[[str, str], str | None],
) -> tuple[RunView, verdictmod.Verdict]:
    """Run ``original`` again with ``overrides``; the new run and the verdict.

    Values redacted when the run was recorded come back from ``GITEXP_SECRET_<KEY>`` or
    ``ask_secret(variable, what)`` (None: not given; the rerun then refuses, exit 6).
    """
    if original.info.status == RUNNING:
        raise RepositoryStateError(
            f"run {short_id(original.info.id)} is still running: its result is not known yet",
            "Wait for it to end, then run `gitexp rerun` again.",
        )
    roots = inputsmod.ignored_roots(repo)
    inputs_now = inputsmod.fingerprint(repo.root, roots)
    inputs_then = rerunmod.recorded_inputs(repo, original)
    config = configmod.resolve(None, original.config, overrides)
    command, note = rerunmod.command_for(_template(original))
    if note:
        say(f"warning: {note}")
    command, config = rerunmod.fill_secrets(
        original.info.redacted,
        command,
        config,
        {".".join(keys) for keys, _value in overrides},
        ask_secret,
    )
    with rerunmod.isolated_checkout(repo, original, roots) as checkout:
        for warning in checkout.warnings:
            say(f"warning: {warning}")
        say(f"rerunning {short_id(original.info.id)} {original.info.name} in {checkout.root}")
        include = frozenset(
            p.decode("utf-8", "surrogateescape") for p in snapshot_files(repo, original.root_tree)
        )
        new_id = _record(checkout, original, command, config, name, include, say)
    entry = next(e for e in list_runs(repo) if e.id == new_id)
    rerun = load_run(repo, entry)
    result = verdictmod.judge(
        repo,
        original,
        rerun,
        rtol=tolerance.rtol,
        atol=tolerance.atol,
        include_timing=tolerance.include_timing,
        ignore=tolerance.ignore,
        inputs_then=inputs_then,
        inputs_now=inputs_now,
    )
    return rerun, result


def _record(
    checkout: rerunmod.Checkout,
    original: RunView,
    command: list[str],
    config: dict[str, Any],
    name: str | None,
    include: frozenset[str],
    say: Callable[[str], None],
) -> str:
    """Record the rerun from inside the checkout, as ``gitexp run`` would there."""
    from gitexp.record.starting import expand_command, start_run
    from gitexp.record.supervise import supervise

    # Opened at the checkout's top: its folder may be a link into the work tree (data/...).
    with _inside(checkout.cwd), GitRepo.discover(checkout.root) as worktree, _stdout_to_stderr():
        # The macros (${args}) pass the rerun's config, overrides included, to the program.
        expansion = expand_command(worktree, command, config)
        recorder, snapshot = start_run(
            worktree,
            command=expansion.command,
            macros=expansion,
            config=config,
            source="cli",
            name=name or f"{original.info.name}-rerun",
            tags=original.info.tags,
            group=original.info.group,
            include=include,
            cli_fields=("name",),
            warn=lambda message: say(f"warning: {message}"),
            rerun_of=original.info.id,
        )
        supervise(recorder, expansion.command, config, snapshot.skipped, say)
        return recorder.info.id


def _template(original: RunView) -> list[str]:
    """The command to run again: with its macros when it had some, so that they pass the
    rerun's config; as recorded when a secret was cut out of it (its positions are those
    of the recorded command)."""
    info = original.info
    if info.command_template and not info.redacted.get("command"):
        return list(info.command_template)
    return list(info.command)


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The command's output goes to stderr, so stdout carries only the verdict."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
