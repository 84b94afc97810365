"""Runs that a plain ``git fetch`` mirrored, made local by the next gitexp command.

``gitexp install`` adds a fetch refspec, so ``git fetch`` mirrors a remote's runs in
``refs/remotes/<remote>/gitexp/runs/*``; the mirrors are the remote's word, and only
runs that pass validation (read/trust.py) and the pull policy become local runs.

No hook does this.  git 2.39 runs a non-atomic fetch as one ref transaction per ref and
the reference-transaction hook twice for each: even a hook that started no program
made a fetch of 1,000 runs take 4x as long as plain git (docs/benchmarks.md, issue 16).
Instead every gitexp command that reads runs first compares a stamp of the
remote-tracking refs (a few stats: git/refs.py, ``remote_refs_stamp``) with the one it
saw last; only when a fetch changed something does it list the mirrors and bring in the
ones that differ from what it saw (``<git common dir>/gitexp/mirrors.seen``).  A fetched
run is never missing from a gitexp command, and a fetch costs what git alone costs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator

from gitexp.git.binary import ZERO
from gitexp.git.repo import GitRepo

SEEN = "mirrors.seen"  # first line: the stamp; then "<sha> <mirror ref>" per mirror
LOCK = "mirrors.lock"
_MIRROR = re.compile(r"^refs/remotes/(.+)/gitexp/runs/([^/]+)$")
# Left by gitexp 0.2's hook (a queue of fetched mirrors): the mirrors themselves say more.
_LEGACY = ("fetched-runs.queue", "fetched-runs.notes")
_ALIAS_MIRROR = re.compile(r"^refs/remotes/(.+)/gitexp/aliases/([^/]+/[^/]+)$")


def folder(commondir: str) -> str:
    return os.path.join(commondir, "gitexp")


def parse(lines: list[str]) -> dict[str, tuple[str, bytes]]:
    """The last update of each run's mirror in ``<old> <new> <ref>`` lines (what git
    hands a reference-transaction hook): ``{run id: (remote, new sha)}``.

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


def bring_aliases_here(
    repo: GitRepo, fetched: dict[str, tuple[str, bytes]], say: Callable[[str], None]
) -> None:
    """Create or fast-forward the aliases a fetch mirrored; say what did not move."""
    from gitexp.render.cells import printable
    from gitexp.share.aliassync import update_alias
    from gitexp.share.remotes import DIVERGED, QUARANTINED

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
    # Imported here: every command reaches this module, few have runs to bring in.
    from gitexp.model.ids import short_id
    from gitexp.read.listing import remember_rows
    from gitexp.read.trust import Rows, check_runs, describe, passed
    from gitexp.render.cells import printable
    from gitexp.render.words import plural
    from gitexp.share.remotes import DIVERGED, NEW, REFUSED, UPDATED, create_new_runs, fast_forward

    counts = {NEW: 0, UPDATED: 0}
    runs = {run_id: sha for run_id, (_remote, sha) in fetched.items()}
    rows: Rows = {}
    problems = check_runs(repo, runs, rows)
    remember_rows(repo, passed(runs, problems), rows)
    # Runs new here in one git transaction (a fetch of 1,000 runs: one ref write each
    # took ~1 s); the rest fast-forward one by one, judged by the pull policy.
    created = create_new_runs(repo, runs, problems, names=False)
    counts[NEW] = len(created)
    for run_id, (remote, sha) in sorted(fetched.items()):
        problem = problems.get(run_id)
        if problem:  # never made a local run: it stays in the remote's mirror only
            say(f"quarantined fetched run {describe(run_id, problem)}; not made a local run")
            continue
        if run_id in created:
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


def drain_pending(repo: GitRepo, say: Callable[[str], None]) -> None:
    """Before a command reads runs: bring here the runs a fetch mirrored since the last
    command looked.  Costs a few stats when no fetch happened."""
    where = folder(repo.commondir)
    stamp = repo.remote_refs_stamp()
    if stamp == _seen_stamp(where):
        return
    with _locked(where) as writable:
        seen_stamp, seen = _read_seen(where)  # another command may have done it meanwhile
        if not writable or stamp == seen_stamp:
            return  # not writable: a reader without write access (it could make no run)
        mirrors = mirrored_runs(repo)
        moved = {ref: sha for ref, sha in mirrors.items() if seen.get(ref) != sha}
        changed = {
            m.group(2): (m.group(1), sha) for ref, sha in moved.items() if (m := _MIRROR.match(ref))
        }
        aliases = {
            m.group(2): (m.group(1), sha)
            for ref, sha in moved.items()
            if (m := _ALIAS_MIRROR.match(ref))
        }
        if changed or aliases:
            try:
                bring_here(repo, changed, say)
                bring_aliases_here(repo, aliases, say)
            except OSError as exc:  # a full disk: this command still reads what is here
                say(
                    f"warning: could not bring fetched runs here: {exc.strerror or exc}; "
                    "the next gitexp command tries again"
                )
                return
        _write_seen(where, stamp, mirrors)
        for name in _LEGACY:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(where, name))


def mark_seen(repo: GitRepo, prefix: bytes, stamp: str, runs: dict[str, bytes]) -> None:
    """Take one remote's mirrors as seen: ``gitexp pull`` has dealt with them itself
    (and a pull of some runs must not bring the others in behind its back).

    ``runs``: the run mirrors under ``prefix`` (``refs/remotes/<remote>/gitexp/runs/``)
    as the pull listed them after its fetch, ``stamp`` taken just before that listing
    (a fetch after it moves the stamp, and the next command looks).  Listing them again
    here cost a 10,000-run pull 0.15 s (10,000 loose refs); the remote's aliases are few
    and listed here, and other remotes' mirrors stay as last seen, for the next command
    to compare."""
    where = folder(repo.commondir)
    with _locked(where) as writable:
        if writable:
            aliases = prefix[: -len(b"runs/")] + b"aliases/"
            text = prefix.decode("utf-8", "replace")
            mirrors = {
                ref: sha
                for ref, sha in _read_seen(where)[1].items()
                if not ref.startswith((text, aliases.decode("utf-8", "replace")))
            }
            mirrors.update((text + run_id, sha) for run_id, sha in runs.items())
            for raw, sha in repo.list_refs(aliases).items():
                name = aliases.decode("utf-8", "replace") + raw.decode("utf-8", "replace")
                if _ALIAS_MIRROR.match(name):
                    mirrors[name] = sha
            _write_seen(where, stamp, mirrors)


def mirrored_runs(repo: GitRepo) -> dict[str, bytes]:
    """Every remote's mirrored runs and artifact aliases: ``{mirror ref name: sha}``."""
    return {
        name: sha
        for raw, sha in repo.list_refs(b"refs/remotes/").items()
        if (name := "refs/remotes/" + raw.decode("utf-8", "replace"))
        and (_MIRROR.match(name) or _ALIAS_MIRROR.match(name))
    }


def _seen_stamp(where: str) -> str | None:
    """The stamp alone (the first line): what every command reads when nothing changed."""
    try:
        with open(os.path.join(where, SEEN), encoding="utf-8", errors="replace") as handle:
            return handle.readline().rstrip("\n") or None
    except OSError:
        return None


def _read_seen(where: str) -> tuple[str | None, dict[str, bytes]]:
    try:
        with open(os.path.join(where, SEEN), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None, {}
    lines = text.splitlines()
    if not lines:
        return None, {}
    seen: dict[str, bytes] = {}
    for line in lines[1:]:
        sha, _, ref = line.partition(" ")
        if ref:
            seen[ref] = sha.encode()
    return lines[0], seen


def _write_seen(where: str, stamp: str, mirrors: dict[str, bytes]) -> None:
    """Best effort: a full disk must not stop a command that only reads (the next one
    looks at the mirrors again, and finds the runs already here)."""
    path = os.path.join(where, SEEN)
    tmp = f"{path}.{os.getpid()}.tmp"
    body = "".join(f"{sha.decode()} {ref}\n" for ref, sha in sorted(mirrors.items()))
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(f"{stamp}\n{body}")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def _locked(where: str) -> Iterator[bool]:
    """One command at a time brings mirrors in (the others wait, then find it done).
    Yields False where the git folder is not writable for this user."""
    try:
        os.makedirs(where, exist_ok=True)
        handle = open(os.path.join(where, LOCK), "a")  # noqa: SIM115 (closed below)
    except OSError:
        yield False
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
