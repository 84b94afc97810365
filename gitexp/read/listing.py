"""Listing runs: one object read per run, cached by commit id.

Each run commit carries its listing row in its message, so ``gitexp ls`` reads the run
refs and one commit per run.  Commits are immutable, so a cache keyed by commit id is
always valid: ``<git common dir>/gitexp/cache/rows.tsv`` holds one line per run
commit, ``<commit>\t<start>\t<status>\t<row as JSON>``, and a second ``ls`` reads
one file plus the refs.  Rows are parsed only when used: listing 10,000 runs newest
first needs every start time but only the shown rows (parsing every row was ~60 ms).

Decoding many rows makes many small dicts, and each batch of allocations sets off
Python's cyclic garbage collector, which walks every object made so far: at 100,000
rows that walking cost more than the decoding (2.1 s against 0.9 s).  Rows hold no
cycles, so bulk work runs with the collector paused (:func:`collector_paused`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator

from gitexp.errors import GitexpError
from gitexp.git.repo import GitRepo
from gitexp.model import validate, values
from gitexp.model.record import (
    FORMAT_VERSION,
    REF_PREFIX,
    RUNNING,
    parse_row,
    parse_row_bytes,
    row_bytes,
)
from gitexp.read import verdicts
from gitexp.record.live import LiveDir, live_root
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow

CACHE_NAME = "rows.tsv"
# The status column of a cached run whose row failed validation; its last column is
# the reason as a JSON string (read/trust.py).
QUARANTINED = "!quarantined"
# The cache's first line: its rows were checked (validate.check_row) before they were
# written, so reading them again trusts that verdict.  gitexp 0.2 wrote rows unchecked
# and no such line (and skips it: it holds no tab).
CHECKED_MARK = "# gitexp listing rows, checked\n"
BATCH_READ_MIN = 64  # uncached runs from which one `git cat-file --batch` reads them
BATCH_READ_MIN_UNOPENED = 1  # the same where dulwich is not open yet (git/repo.py)
_OLD_CACHE_NAMES = ("rows.json",)  # earlier versions' caches, removed when this one is written


class RunEntry:
    """A run as the listing sees it: id, commit, and its listing row (parsed on use)."""

    __slots__ = ("_raw", "_repo", "_row", "_start", "_status", "commit", "id", "problem")

    def __init__(
        self,
        id: str,
        commit: bytes,
        row: ListingRow | None = None,
        *,
        raw: str | None = None,
        start: float | None = None,
        status: str | None = None,
        repo: GitRepo | None = None,
        problem: str | None = None,
    ) -> None:
        self.id = id
        # Why this run is quarantined (read/trust.py): its ref name or row failed the
        # checks, or a full check of its commit did.  None: nothing known against it.
        self.problem = problem
        self.commit = commit
        self._row = row
        self._raw = raw
        self._start = start
        self._status = status
        self._repo = repo  # where a row that does not parse is read from

    def __repr__(self) -> str:
        return f"RunEntry({self.id!r}, {self.commit!r})"

    @property
    def row(self) -> ListingRow:
        if self._row is None:
            parsed: object = None
            with contextlib.suppress(ValueError, RecursionError):
                parsed = values.loads_bytes((self._raw or "").encode())
            # A cached row was checked before it was written (the cache's first line
            # says so, _load_cache): the verdict is kept, not the check run again (a
            # warm `ls --where` over 100,000 runs spent a quarter of its time there).
            if isinstance(parsed, dict):
                self._row = cast("ListingRow", parsed)  # the JSON boundary: as written
            elif self._repo is None:
                self._row = {}
            else:  # a damaged cache line: read git
                row = _read_row(self._repo, self.commit, self.id)
                self.problem = self.problem or validate.check_row(dict(row))
                self._row = quarantined_row(self.id) if self.problem else row
        return self._row

    @row.setter
    def row(self, value: ListingRow) -> None:
        self._row = value
        self._start = self._status = None

    def order_by(self, start: float) -> None:
        """Sort this run as if it started at ``start`` (its row keeps the claimed start)."""
        self._start = start

    @property
    def start(self) -> float:
        if self._start is None:  # kept: a listing asks three times a run (cache, cap, sort)
            start = self.row.get("start")
            self._start = float(start) if isinstance(start, (int, float)) else 0.0
        return self._start

    @property
    def name(self) -> str:
        return str(self.row.get("name") or "")

    @property
    def status(self) -> str:
        if self._status is None:
            self._status = str(self.row.get("status") or "")
        return self._status


def describe(run_id: str, reason: str) -> str:
    return f"{REF_PREFIX.decode()}{run_id}: {reason}"


def listed(entries: list[RunEntry], say: Callable[[str], None]) -> list[RunEntry]:
    """The runs a listing may show: quarantined ones left out with one warning each
    (read/trust.py says why a run is quarantined; here, not there, so that ``ls``
    does not import the checks of whole runs)."""
    kept = []
    for entry in entries:
        if entry.problem:
            say(f"skipped quarantined run {describe(entry.id, entry.problem)}")
        else:
            kept.append(entry)
    return kept


def _cache_path(repo: GitRepo) -> str:
    return os.path.join(repo.commondir, "gitexp", "cache", CACHE_NAME)


def _load_cache(path: str) -> dict[str, tuple[float, str, str]]:
    """{commit: (start, status, row JSON)}; lines that do not parse are left out, and
    the whole file when it does not start with :data:`CHECKED_MARK`."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:  # a row may hold a CR
            text = handle.read()
    except (OSError, ValueError):
        return {}
    if not text.startswith(CHECKED_MARK):
        return {}  # gitexp 0.2's cache, whose rows nothing checked: read git once
    cache: dict[str, tuple[float, str, str]] = {}
    for line in text[len(CHECKED_MARK) :].split("\n"):
        parts = line.split("\t", 3)
        if len(parts) != 4:
            continue
        try:
            start = float(parts[1])
        except ValueError:
            continue
        cache[parts[0]] = (start, parts[2], parts[3])
    return cache


def _save_cache(path: str, lines: list[str]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(CHECKED_MARK + "".join(lines))
        os.replace(tmp, path)
    except OSError:
        return  # a cache we cannot write only costs speed
    for old in _OLD_CACHE_NAMES:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(os.path.dirname(path), old))


def _cache_line(key: str, entry: RunEntry) -> str | None:
    """The entry's cache line; None for a status holding a tab or newline (a damaged
    row), which is then read from git each time."""
    if entry.problem:
        return f"{key}\t0.0\t{QUARANTINED}\t{values.dumps(entry.problem)}\n"
    raw = entry._raw if entry._raw is not None else values.dumps(entry.row)
    line = f"{key}\t{entry.start!r}\t{entry.status}\t{raw}"
    return line + "\n" if line.count("\t") == 3 and "\n" not in line else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block that builds many acyclic
    objects (rows, entries); on again after it, as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def list_runs(repo: GitRepo) -> list[RunEntry]:
    """Every run in the repository, newest start first."""
    with collector_paused():
        return _list_runs(repo)


def _list_runs(repo: GitRepo) -> list[RunEntry]:
    refs = repo.list_refs(REF_PREFIX)
    cache_path = _cache_path(repo)
    cache = _load_cache(cache_path)
    entries: list[RunEntry] = []
    missing: list[tuple[str, bytes]] = []
    for name, sha in refs.items():
        run_id = name.decode("utf-8", "replace")
        cached = cache.get(sha.decode())
        if cached is not None and cached[1] == QUARANTINED:
            entries.append(_quarantined(run_id, sha, cached[2]))
        elif cached is not None:
            start, status, raw = cached
            entries.append(RunEntry(run_id, sha, raw=raw, start=start, status=status, repo=repo))
        else:  # absent, or a damaged line: read git instead
            missing.append((run_id, sha))
    rows = _read_rows(repo, missing)
    for run_id, sha in missing:
        row, text = rows[sha]
        entries.append(_checked(RunEntry(run_id, sha, row, raw=text, repo=repo)))
    if missing or len(entries) != len(cache):
        lines = (_cache_line(entry.commit.decode(), entry) for entry in entries)
        _save_cache(cache_path, [line for line in lines if line is not None])
    _mark_quarantined(repo, entries)
    _mark_live(repo, entries)
    _cap_future_starts(repo, entries)
    entries.sort(key=lambda entry: entry.start, reverse=True)
    return entries


def remember_rows(
    repo: GitRepo, runs: dict[str, bytes], rows: dict[bytes, tuple[ListingRow, str]]
) -> None:
    """Add the rows of ``runs`` ({id: commit}) read and checked elsewhere (``rows``:
    {commit: (row, its JSON text)}) to the cache, in one write.  A pull checks every row
    it brings (read/trust.py ``check_runs``, whose rows and ``passed`` runs these must
    be), so the first ``ls`` after it reads no commit."""
    path = _cache_path(repo)
    with collector_paused():
        cache = _load_cache(path)
        lines = [f"{key}\t{at!r}\t{status}\t{raw}\n" for key, (at, status, raw) in cache.items()]
        for run_id, sha in runs.items():
            if sha not in rows or sha.decode() in cache:
                continue
            cache[sha.decode()] = (0.0, "", "")  # once, whatever ids name it
            row = _checked_row(rows[sha][0], run_id)
            raw = rows[sha][1] if _current(row) else None
            # Checked already: check_runs checks each row it hands out and passed()
            # each run's name (a pull of 10,000 runs checked every row twice).
            line = _cache_line(sha.decode(), RunEntry(run_id, sha, row, raw=raw))
            if line is not None:
                lines.append(line)
        _save_cache(path, lines)


def run_entry(repo: GitRepo, run_id: str, sha: bytes) -> RunEntry:
    """One run as :func:`list_runs` shows it, read from its commit alone."""
    entry = _checked(RunEntry(run_id, sha, _read_row(repo, sha, run_id)))
    _mark_quarantined(repo, [entry])
    _mark_live(repo, [entry])
    return entry


def _checked(entry: RunEntry) -> RunEntry:
    """The entry with ``problem`` set when its ref name or listing row fails the checks
    (a row of the wrong types would break sorting, filtering and tables)."""
    problem = validate.check_run_id(entry.id)
    if problem is None:
        problem = validate.check_row(dict(entry.row))
    if problem:
        return _quarantined(entry.id, entry.commit, values.dumps(problem))
    return entry


def _quarantined(run_id: str, sha: bytes, reason: str) -> RunEntry:
    try:
        problem = str(values.loads(reason))
    except ValueError:
        problem = "its listing row failed the checks"
    return RunEntry(run_id, sha, quarantined_row(run_id), problem=problem)


def quarantined_row(run_id: str) -> ListingRow:
    """What a quarantined run's row is taken to be: nothing of what it claims."""
    return {"id": run_id, "name": "", "status": "quarantined", "start": 0}


def _mark_quarantined(repo: GitRepo, entries: list[RunEntry]) -> None:
    """Runs whose full check failed earlier (at pull, or when a command read them)."""
    known = verdicts.load(repo, failed_only=True)
    if known:
        for entry in entries:
            reason = known.get(entry.commit)
            if reason and not entry.problem:
                entry.problem = reason


def _read_rows(
    repo: GitRepo, missing: list[tuple[str, bytes]]
) -> dict[bytes, tuple[ListingRow, str | None]]:
    """The rows of runs the cache lacks, by commit id, each with its JSON text as the
    commit holds it when the row is taken as written (the cache keeps that text: encoding
    10,000 rows again cost a first ``ls`` ~0.1 s).

    Many at once (the first ``ls`` after a clone) are read by one ``git cat-file
    --batch``, ~10 us a commit against ~40 us through dulwich, and so are a few where
    dulwich is not open yet (importing it costs ~30 ms, a git process ~2 ms: the first
    ``ls`` after ``gitexp run``); else, or where git is missing or fails, one by one.
    """
    rows: dict[bytes, tuple[ListingRow, str | None]] = {}
    least = BATCH_READ_MIN if repo.dulwich_open else BATCH_READ_MIN_UNOPENED
    if missing and len(missing) >= least:
        from gitexp.git import catfile  # a cold listing only

        with contextlib.suppress(GitexpError, OSError, ValueError):
            found = catfile.read_objects(repo.root, [sha.decode() for _, sha in missing])
            for (run_id, sha), obj in zip(missing, found, strict=True):
                if obj is not None and obj[0] == "commit":
                    line = row_bytes(obj[1].partition(b"\n\n")[2])
                    text = None if line is None else line.decode("utf-8", "replace")
                    parsed = None if line is None else parse_row_bytes(line)
                    row = _checked_row(parsed, run_id)
                    rows[sha] = (row, text if row is parsed and _current(row) else None)
    for run_id, sha in missing:
        if sha not in rows:
            rows[sha] = (_read_row(repo, sha, run_id), None)
    return rows


def _read_row(repo: GitRepo, sha: bytes, run_id: str) -> ListingRow:
    try:
        row = parse_row(repo.commit_message(sha))
    except Exception:
        row = None
    return _checked_row(row, run_id)


def _checked_row(row: ListingRow | None, run_id: str) -> ListingRow:
    if row is None:
        return {"id": run_id, "name": "", "status": "corrupt", "start": 0}
    if not _current(row):
        row["status"] = f"{row.get('status')} (newer format)"
    return row


def _current(row: ListingRow) -> bool:
    return int(row.get("format", 1)) <= FORMAT_VERSION


def _mark_live(repo: GitRepo, entries: list[RunEntry]) -> None:
    """A ``running`` run recorded here is shown as running only while its recorder lives."""
    root = live_root(repo.commondir)
    for entry in entries:
        if entry.status != RUNNING:
            continue
        live = LiveDir(os.path.join(root, entry.id))
        if live.exists() and not (live.recorder_alive() or live.child_alive()):
            entry.row = {**entry.row, "status": "crashed?"}


# A clock may run a little ahead of this one; a start beyond this is a claim to doubt.
CLOCK_SKEW_SECONDS = 300.0


def _cap_future_starts(repo: GitRepo, entries: list[RunEntry]) -> None:
    """Order a run that claims to start in the future by when it arrived in this clone.

    A run's start is whatever its recorder wrote: a pulled run dated next year would
    otherwise be ``latest`` (and first in ``ls``) for a year.  Its ref's reflog here,
    which no remote can write, says when it arrived.  Only the order changes; the run
    still shows the start it claims.
    """
    now = time.time()
    for entry in entries:
        if entry.start > now + CLOCK_SKEW_SECONDS:
            arrived = repo.first_reflog_time(REF_PREFIX + entry.id.encode())
            if arrived is None:  # no reflog (a plain git fetch into refs/gitexp): its file
                try:
                    ref_file = os.path.join(repo.commondir, "refs", "gitexp", "runs", entry.id)
                    arrived = os.stat(ref_file).st_mtime
                except OSError:
                    arrived = 0.0  # no evidence of when: last, not first
            entry.order_by(min(entry.start, arrived))
