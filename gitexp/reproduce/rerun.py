"""The isolated checkout ``gitexp rerun`` runs in: a linked git worktree of the run's code.

The worktree lives in ``<git common dir>/gitexp/rerun/<pid>-<token>/``: inside ``.git``
so it is never part of a snapshot and sits on the same file system as the work tree
(hard links work), and linked to the repository so a run recorded in it lands in the
same refs.  Its HEAD is the original run's baseline (detached), its files are the run's
snapshot, so the rerun records the same baseline and, when nothing is amiss, the same
snapshot.  Ignored inputs are linked in from the work tree.  The worktree is removed
afterwards, on failure and on Ctrl-C too; one left behind by a killed gitexp is removed
by the next ``gitexp rerun``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gitexp.errors import RepositoryStateError
from gitexp.git.repo import GitRepo
from gitexp.model import redact, values
from gitexp.read.runview import RunView
from gitexp.record import inputs as inputsmod
from gitexp.record.live import pid_alive
from gitexp.reproduce import restore

_PYTHON = re.compile(r"^python[0-9.]*$")


@dataclass
class Checkout:
    root: str  # the worktree, a real path
    cwd: str  # where the command runs: the run's recorded folder inside the worktree
    linked: list[str] = field(default_factory=list)  # ignored inputs linked from the work tree
    warnings: list[str] = field(default_factory=list)


def rerun_base(repo: GitRepo) -> str:
    return os.path.join(repo.commondir, "gitexp", "rerun")


def recorded_inputs(repo: GitRepo, view: RunView) -> dict[str, Any] | None:
    """The original run's ``inputs.json`` (None for runs recorded before it existed)."""
    text = repo.read_file(view.meta_tree, "inputs.json")
    if text is None:
        return None
    try:
        data = values.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def command_for(recorded: list[str]) -> tuple[list[str], str | None]:
    """The command to run, and a note when it had to change.

    A Python interpreter recorded by absolute path that does not exist here (another
    machine, a deleted environment) is replaced by the Python running gitexp: a rerun uses
    the current Python environment.  Everything else runs as recorded.
    """
    command = list(recorded)
    first = command[0] if command else ""
    if (
        os.path.isabs(first)
        and not os.path.exists(first)
        and _PYTHON.match(os.path.basename(first))
    ):
        command[0] = sys.executable
        return command, f"{first} does not exist here: running {sys.executable} instead"
    return command, None


def fill_secrets(
    redacted: dict[str, Any],
    command: list[str],
    config: dict[str, Any],
    given: set[str],
    ask: Callable[[str, str], str | None],
) -> tuple[list[str], dict[str, Any]]:
    """The command and config with the recorded run's redacted secrets put back.

    Each value comes from ``GITEXP_SECRET_<KEY>``, else from ``ask(variable, what)``
    (a terminal prompt; None without one).  A redacted argument, and a redacted config
    key the original got from ``-p``/``--config`` (``params``), must be given; other
    redacted config keys (a script's own) are left to the script, which sets them again.
    ``given``: the keys the rerun's own ``-p`` sets.  Raises RepositoryStateError (exit
    6) naming every variable missing.
    """
    command = list(command)
    missing: list[str] = []

    def value(key: str, what: str, needed: bool) -> str | None:
        variable = redact.env_name(key)
        found = os.environ.get(variable)
        if found is None and needed:
            found = ask(variable, what)
            if not found:
                missing.append(f"{variable} ({what})")
        return found

    for item in redacted.get("command") or []:
        index, key = item.get("index"), item.get("key")
        if not isinstance(index, int) or not isinstance(key, str) or not 0 <= index < len(command):
            continue
        secret = value(key, f"argument {index} of the command", True)
        if secret is not None:
            command[index] = redact.fill(command[index], secret)
    params = set(redacted.get("params") or [])
    for key in redacted.get("config") or []:
        if not isinstance(key, str) or key in given:
            continue
        secret = value(key, f"config {key}", key in params)
        redact.put_back(config, key, secret)
    if missing:
        raise RepositoryStateError(
            "the run's record has secrets redacted and no value for: " + ", ".join(missing),
            "Set each variable in the environment (e.g. `export "
            + missing[0].split(" ")[0]
            + "=...`), or run `gitexp rerun` on a terminal to be asked.",
        )
    return command, config


@contextmanager
def isolated_checkout(repo: GitRepo, view: RunView, roots: list[str]) -> Iterator[Checkout]:
    """A worktree holding the run's snapshot and links to the ignored ``roots``."""
    base = rerun_base(repo)
    remove_stale_checkouts(repo)
    os.makedirs(base, exist_ok=True)
    path = os.path.realpath(os.path.join(base, f"{os.getpid()}-{secrets.token_hex(4)}"))
    baseline = view.info.baseline.encode() if view.info.baseline else None
    if baseline is not None and not repo.has_object(baseline):
        raise RepositoryStateError(
            f"the run's baseline commit {view.info.baseline} is not in this repository",
            "Fetch the history it was recorded on (`git fetch origin`), then try again.",
        )
    os.mkdir(path)
    try:
        repo.add_worktree(path, baseline)
        with GitRepo.discover(path) as worktree:
            target = restore.snapshot_files(worktree, view.root_tree)
            plan = restore.plan_restore(worktree, target, [b""], exact=True)
            restore.apply_plan(worktree, plan)
        checkout = Checkout(root=path, cwd=os.path.normpath(os.path.join(path, view.info.cwd)))
        checkout.linked = inputsmod.link_inputs(repo.root, path, roots)
        checkout.warnings = _link_left_out(repo.root, path, view.snapshot)
        if not checkout.cwd.startswith(path + os.sep) and checkout.cwd != path:
            # The run started outside its repository ("../x"): run from the checkout's top.
            checkout.warnings.append(
                f"the run started outside its repository ({view.info.cwd}); "
                "running from the top of the checkout"
            )
            checkout.cwd = path
        os.makedirs(checkout.cwd, exist_ok=True)
        yield checkout
    finally:
        repo.remove_worktree(path)
        shutil.rmtree(path, ignore_errors=True)


def _link_left_out(source_root: str, target_root: str, snapshot: dict[str, Any]) -> list[str]:
    """Make secret-looking, too-large and binary files the snapshot left out available.

    A hard link keeps them regular files, so the rerun's snapshot leaves them out for
    the same reason and stays equal to the original's; a secret may also be a symbolic
    link (left out by its name either way).  A too-large file that cannot be hard linked
    (another file system) is not made available, with a warning.
    """
    notes: list[str] = []
    for item in snapshot.get("skipped") or []:
        reason, rel = item.get("reason"), item.get("path")
        if reason not in ("secret", "too-large", "binary") or not isinstance(rel, str):
            continue
        source, target = os.path.join(source_root, rel), os.path.join(target_root, rel)
        if not os.path.isfile(source) or os.path.lexists(target):
            if not os.path.isfile(source):
                notes.append(f"{rel} ({reason}, left out of the snapshot) is missing here")
            continue
        if item.get("size") is not None and os.path.getsize(source) != item["size"]:
            notes.append(f"{rel} ({reason}) changed size since the run")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            if reason == "secret":
                os.symlink(os.path.abspath(source), target)
            else:
                notes.append(f"{rel} ({reason}) could not be linked into the checkout")
    return notes


def remove_stale_checkouts(repo: GitRepo) -> list[str]:
    """Remove worktrees left behind by a ``gitexp rerun`` that was killed."""
    base = rerun_base(repo)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        pid_text = name.split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text), None):
            continue
        path = os.path.realpath(os.path.join(base, name))
        repo.remove_worktree(path)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    return removed
