"""Runs that a plain ``git fetch`` mirrored, queued by the hook and made local in one pass.

git 2.39 runs a non-atomic fetch as one ref transaction per ref, and the
reference-transaction hook once per transaction: starting Python there made a fetch of
300 runs take minutes.  So the hook (hooks_templates/reference-transaction) only appends
the mirror updates to ``<git common dir>/gitexp/fetched-runs.queue`` with shell builtins
and starts at most one drainer per fetch (``fetched-runs.lock``, made with ``mkdir``,
which is atomic).  The drainer waits for the fetch to end, then brings every queued run
here in one process; the next gitexp command drains whatever is left first, so no
command ever shows a fetched run as missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable

from gitexp.git.binary import ZERO
from gitexp.git.repo import GitRepo
from gitexp.model.ids import short_id
from gitexp.read.trust import check_runs, describe
from gitexp.render.cells import printable
from gitexp.render.words import plural
from gitexp.share.aliassync import update_alias
from gitexp.share.remotes import DIVERGED, NEW, QUARANTINED, REFUSED, UPDATED, fast_forward

QUEUE = "fetched-runs.queue"
LOCK = "fetched-runs.lock"
NOTES = "fetched-runs.notes"  # what a drainer without a terminal had to say
_MIRROR = re.compile(r"^refs/remotes/(.+)/gitexp/runs/([^/]+)$")
_ALIAS_MIRROR = re.compile(r"^refs/remotes/(.+)/gitexp/aliases/([^/]+/[^/]+)$")
# A drainer whose lock is older than this died: the next one takes over.
STALE_LOCK_SECONDS = 600.0


def folder(commondir: str) -> str:
    return os.path.join(commondir, "gitexp")


def parse(lines: list[str]) -> dict[str, tuple[str, bytes]]:
    """The last update of each run's mirror: ``{run id: (remote, new sha)}``.

    A deleted mirror (``fetch --prune``) never deletes a local run, so it is skipped.
    """
    fetched: dict[str, tuple[str, bytes]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[1] == ZERO:
            continue
        match = _MIRROR.match(parts[2])
        if match:
            fetched[match.group(2)] = (match.group(1), parts[1].encode())
    return fetched


def parse_aliases(lines: list[str]) -> dict[str, tuple[str, bytes]]:
    """The last update of each alias's mirror: ``{"name/alias": (remote, new sha)}``."""
    fetched: dict[str, tuple[str, bytes]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[1] == ZERO:
            continue
        match = _ALIAS_MIRROR.match(parts[2])
        if match:
            fetched[match.group(2)] = (match.group(1), parts[1].encode())
    return fetched


def bring_aliases_here(
    repo: GitRepo, fetched: dict[str, tuple[str, bytes]], say: Callable[[str], None]
) -> None:
    """Create or fast-forward the aliases a fetch mirrored; say what did not move."""
    for tail, (remote, sha) in sorted(fetched.items()):
        item = update_alias(repo, tail.encode(), sha)
        if item.action in (DIVERGED, QUARANTINED):
            say(
                f"alias {printable(item.id)} {item.action}: {printable(item.error or '')}; "
                f"the remote's is refs/remotes/{printable(remote)}/gitexp/aliases/{tail}"
            )


def bring_here(
    repo: GitRepo, fetched: dict[str, tuple[str, bytes]], say: Callable[[str], None]
) -> None:
    """Create the runs new here and fast-forward the ones the remote extended."""
    counts = {NEW: 0, UPDATED: 0}
    problems = check_runs(repo, {run_id: sha for run_id, (_remote, sha) in fetched.items()})
    for run_id, (remote, sha) in sorted(fetched.items()):
        problem = problems.get(run_id)
        if problem:  # never made a local run: it stays in the remote's mirror only
            say(f"quarantined fetched run {describe(run_id, problem)}; not made a local run")
            continue
        action, why = fast_forward(repo, run_id, sha)
        if action in counts:
            counts[action] += 1
        elif action == REFUSED:
            say(
                f"warning: run {short_id(run_id)} not updated from {printable(remote)}: "
                f"{printable(why or '')}; kept this clone's run (docs/sharing.md)"
            )
        elif action == DIVERGED:
            say(
                f"run {short_id(run_id)} diverged: kept this clone's history; the remote's is "
                f"refs/remotes/{remote}/gitexp/runs/{run_id} (docs/sharing.md)"
            )
    if counts[NEW] or counts[UPDATED]:
        say(f"{plural(counts[NEW], 'new run')}, {counts[UPDATED]} updated by git fetch")


def drain(repo: GitRepo, say: Callable[[str], None]) -> None:
    """Bring the queued runs here.  Safe beside other drainers: the queue is renamed
    before it is read, so each line is taken by exactly one of them."""
    queue = os.path.join(folder(repo.commondir), QUEUE)
    taken = f"{queue}.{os.getpid()}"
    try:
        os.rename(queue, taken)
    except FileNotFoundError:
        return
    try:
        with open(taken, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
        bring_here(repo, parse(lines), say)
        bring_aliases_here(repo, parse_aliases(lines), say)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(taken)


def drain_pending(repo: GitRepo, say: Callable[[str], None], wait: float = 10.0) -> None:
    """Before a command reads runs: let a running drainer finish (up to ``wait`` seconds),
    drain what is left, and show what drainers noted.  Costs one stat when idle."""
    where = folder(repo.commondir)
    lock, queue = os.path.join(where, LOCK), os.path.join(where, QUEUE)
    if not os.path.exists(lock) and not os.path.exists(queue):
        if os.path.exists(os.path.join(where, NOTES)):
            _show_notes(where, say)
        return
    deadline = time.monotonic() + wait
    while _lock_held(lock) and time.monotonic() < deadline:
        time.sleep(0.02)
    drain(repo, say)
    _show_notes(where, say)


def run_drainer(commondir: str, git_pid: int) -> None:
    """The background drainer the hook starts: wait for the fetch, then drain until the
    queue stays empty.  Its messages go to the notes file, shown by the next command."""
    where = folder(commondir)
    lock = os.path.join(where, LOCK)
    _wait_for_exit(git_pid, timeout=STALE_LOCK_SECONDS)
    notes: list[str] = []
    try:
        with GitRepo.discover(os.path.dirname(os.path.abspath(commondir))) as repo:
            while True:
                drain(repo, notes.append)
                # Noted before the lock goes: a command waiting on the lock shows them.
                _write_notes(where, notes)
                with contextlib.suppress(OSError):
                    os.rmdir(lock)
                # A hook that queued after our last drain saw the lock held: take over.
                if not os.path.exists(os.path.join(where, QUEUE)):
                    break
                try:
                    os.mkdir(lock)
                except FileExistsError:
                    break  # another drainer has it
    finally:
        _write_notes(where, notes)


def _write_notes(where: str, notes: list[str]) -> None:
    if notes:
        with open(os.path.join(where, NOTES), "a", encoding="utf-8") as handle:
            handle.write("".join(f"{note}\n" for note in notes))
        notes.clear()


def _lock_held(lock: str) -> bool:
    try:
        age = time.time() - os.stat(lock).st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_LOCK_SECONDS:  # its drainer died: nobody is coming
        with contextlib.suppress(OSError):
            os.rmdir(lock)
        return False
    return True


def _show_notes(where: str, say: Callable[[str], None]) -> None:
    path = os.path.join(where, NOTES)
    taken = f"{path}.{os.getpid()}"
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return
    with open(taken, encoding="utf-8", errors="replace") as handle:
        for line in handle.read().splitlines():
            say(line)
    os.unlink(taken)


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass  # alive, another user's
        time.sleep(0.02)
