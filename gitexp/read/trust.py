"""The one gate every read of a run goes through: each commit checked once, by its id.

Runs arrive from remotes (teammates, forks, CI) and are input, not code.  Before any
command uses a run, its commit is checked against docs/format.md and the limits there
(``model/validate.py``): the ref name, the listing row, every path of its tree, the size
and shape of each file gitexp reads, and the paths its files name.  The verdict is
cached by commit id (``read/verdicts.py``), so a run is checked once per commit.

A run that fails is *quarantined*: commands over many runs (``ls``, ``report``,
``plot``, ``compare``, ``ui``) skip it with one warning naming the ref and the reason;
a command aimed at it exits 7 with the reason; ``pull`` never makes it a local run.

``ls`` checks the ref name and the row (it reads nothing else, and must stay one
object per run); the whole tree is checked at ``pull``, when ``git fetch`` brings runs
in through the hook, or when a command first reads the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gitexp.errors import FormatError, GitexpError
from gitexp.git import catfile
from gitexp.git.repo import MODE_LINK, MODE_TREE, GitRepo, ObjectId
from gitexp.model import history as historymod
from gitexp.model import validate
from gitexp.model.lineage import LINEAGE_FILE, check_lineage
from gitexp.model.record import FORMAT_VERSION, META_DIR, REF_PREFIX, parse_row, row_text
from gitexp.read import verdicts
from gitexp.read.listing import RunEntry, collector_paused

# Re-exported: the gate every read of a run goes through names them too.
from gitexp.read.listing import describe as describe
from gitexp.read.listing import listed as listed
from gitexp.read.readahead import Objects, ReadAhead, read_ahead
from gitexp.read.treewalk import POINTER_FILE, Folder, walk

if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow

Say = Callable[[str], None]
Rows = dict[ObjectId, "tuple[ListingRow, str]"]  # commit: (listing row, its JSON text)
MEDIA_KIND = "media"  # artifacts/pointers.py: MEDIA
_JSON_FILES = (
    "run.json",
    "metrics.json",
    "snapshot.json",
    "hardware.json",
    "artifacts.json",
    LINEAGE_FILE,
)
_READ_FILES = frozenset({*_JSON_FILES, "config.yaml", POINTER_FILE})
CHUNK = 2_000  # runs checked together: bounds what a read-ahead holds in memory


def verdict(repo: GitRepo, run_id: str, sha: ObjectId) -> str | None:
    """Why the run ``run_id`` at ``sha`` is quarantined (None when it may be used)."""
    return check_runs(repo, {run_id: sha})[run_id]


def check_runs(
    repo: GitRepo, runs: dict[str, ObjectId], rows: Rows | None = None
) -> dict[str, str | None]:
    """:func:`verdict` of many runs, with one read and one write of the cache; ``rows``
    gets each checked commit's listing row whose own checks passed, with its JSON text
    (the run's tree and files may still fail: give the listing cache only the rows of
    :func:`passed` runs, read/listing.py ``remember_rows``).

    Each folder (by its object id and its path) is read and checked once per call, not
    once per run (a pull of 1,000 runs of a 50-file project read 93,000 trees before,
    93 after); runs are checked in chunks whose objects a few ``git cat-file`` batches
    read ahead (read/readahead.py), with every file's size asked before it is read.
    """
    with collector_paused():  # many documents, no cycles (read/listing.py)
        return _check_runs(repo, runs, rows)


def _check_runs(
    repo: GitRepo, runs: dict[str, ObjectId], rows: Rows | None
) -> dict[str, str | None]:
    known = verdicts.load(repo)
    folders: dict[tuple[str, ObjectId], Folder] = {}
    todo = [sha for run_id, sha in runs.items() if validate.check_run_id(run_id) is None]
    todo = [sha for sha in dict.fromkeys(todo) if sha not in known]
    new: dict[bytes, str] = {}
    for start in range(0, len(todo), CHUNK):
        new.update(_check_chunk(repo, todo[start : start + CHUNK], folders, rows))
    out: dict[str, str | None] = {}
    for run_id, sha in runs.items():
        problem = validate.check_run_id(run_id)
        if problem is None:
            reason = known.get(sha)
            problem = (new[sha] if reason is None else reason) or None
        out[run_id] = problem
    verdicts.save(repo, new)
    return out


def _check_chunk(
    repo: GitRepo,
    shas: list[ObjectId],
    folders: dict[tuple[str, ObjectId], Folder],
    rows: Rows | None,
) -> dict[bytes, str]:
    objects = read_ahead(repo, shas, folders)
    new: dict[bytes, str] = {}
    pending: dict[ObjectId, tuple[dict[str, ObjectId], set[str]]] = {}
    for sha in shas:
        found = _check_structure(objects, sha, folders, rows)
        if isinstance(found, tuple):
            pending[sha] = found
        else:
            new[sha] = found or ""
    files = [(name, sha) for meta, _ in pending.values() for name, sha in meta.items()]
    capped = {sha for name, sha in files if _cap(name) is not None}
    sizes = dict(zip(capped, _sizes(repo, list(capped)), strict=True))
    if isinstance(objects, ReadAhead):  # the files every check reads, each within its limit
        limits = {sha: _cap(name) or 0 for name, sha in files if name in _READ_FILES}
        objects.load_blobs(limits, sizes)
    for sha, (meta, links) in pending.items():
        new[sha] = _checked_meta(objects, meta, links, sizes) or ""
    return new


def require(repo: GitRepo, entry: RunEntry) -> None:
    """Raise exit 7 with the reason when the run ``entry`` is quarantined."""
    problem = entry.problem or verdict(repo, entry.id, entry.commit)
    if problem:
        raise FormatError(
            f"run {entry.id[:80]} is quarantined: {problem}",
            f"gitexp will not use it; inspect it with `git show {REF_PREFIX.decode()}"
            f"{entry.id[:80]}` or remove it with `gitexp rm {entry.id[:80]}`.",
        )


def usable(repo: GitRepo, entries: list[RunEntry], say: Say) -> list[RunEntry]:
    """The runs a command that reads them whole may use (each fully checked, cached);
    exit 7 when there were runs and every one of them is quarantined."""
    given = len(entries)
    entries = listed(entries, say)
    found = check_runs(repo, {entry.id: entry.commit for entry in entries})
    kept = []
    for entry in entries:
        problem = found.get(entry.id)
        if problem:
            say(f"skipped quarantined run {describe(entry.id, problem)}")
        else:
            kept.append(entry)
    if given and not kept:
        raise FormatError(
            "every run chosen is quarantined (see the warnings above)",
            "Choose other runs; `gitexp ls` lists those gitexp can read.",
        )
    return kept


# -- checking one commit ---------------------------------------------------------------------


def check_commit(repo: GitRepo, sha: ObjectId) -> str | None:
    """Why a run commit fails the checks of docs/format.md (None when it passes)."""
    found = _check_structure(repo, sha, {})
    if not isinstance(found, tuple):
        return found
    return _checked_meta(repo, *found, None)


def _check_structure(
    repo: Objects,
    sha: ObjectId,
    folders: dict[tuple[str, ObjectId], Folder],
    rows: Rows | None = None,
) -> str | tuple[dict[str, ObjectId], set[str]] | None:
    """The commit's message, row and tree checked: a problem, None when nothing more
    needs checking, or (the files gitexp reads, the links) for :func:`_checked_meta`."""
    try:
        root, _parents, message = repo.commit_info(sha)
    except (GitexpError, KeyError, ValueError):
        return "its ref does not point at a commit"
    if len(message) > validate.MAX_ROW_BYTES + 64 * validate.KiB:
        return f"its commit message is over {validate.MAX_ROW_BYTES} bytes"
    try:
        row = parse_row(message)
    except (ValueError, RecursionError):
        return "its listing row nests too deeply"
    if row is not None:
        problem = validate.check_shape(row) or validate.check_row(dict(row))
        if problem:
            return problem
        if rows is not None:
            rows[sha] = (row, row_text(message) or "")
    try:
        problem, meta, links = walk(repo, root, folders)
    except (GitexpError, KeyError) as exc:
        return _missing(exc)
    if problem is not None:
        return problem
    if row is not None and int(row.get("format", 1)) > FORMAT_VERSION:
        return None  # a newer format's files are its own business: show asks to upgrade
    return meta, links


def sweep_spec_text(repo: GitRepo, sha: ObjectId) -> tuple[str | None, str | None]:
    """(the text of a sweep ref's ``sweep.yaml``, None) or (None, why it is quarantined).

    A sweep commit holds one regular file, ``sweep.yaml`` (docs/format.md, "Sweep refs");
    what that YAML says is checked by sweep/ref.py, which knows a sweep's spec.
    """
    try:
        root, _parents, _message = repo.commit_info(sha)
        entries = repo.tree_entries(root)
        found = entries.get(b"sweep.yaml")
        if found is None or found[0] == MODE_LINK or found[0] == MODE_TREE:
            return None, "its commit holds no sweep.yaml file"
        data = repo.read_blob(found[1])
    except (GitexpError, KeyError, ValueError):
        return None, "its ref does not point at a commit holding sweep.yaml"
    if len(data) > validate.MAX_SWEEP_SPEC:
        return None, f"its sweep.yaml is over {validate.MAX_SWEEP_SPEC} bytes"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "its sweep.yaml is not UTF-8 text"


def _checked_meta(
    repo: Objects,
    meta: dict[str, ObjectId],
    links: set[str],
    sizes: dict[ObjectId, int | None] | None,
) -> str | None:
    try:
        return _check_meta(repo, meta, links, sizes)
    except (GitexpError, KeyError) as exc:
        return _missing(exc)


def _missing(exc: Exception) -> str:
    return f"an object of its tree is missing or of the wrong type ({exc})"


def _cap(name: str) -> int | None:
    if name in validate.META_LIMITS:
        return validate.META_LIMITS[name]
    if name.startswith(("history/", "system/")):
        return validate.MAX_HISTORY_CHUNK
    if name.startswith("media/") and name.endswith(".table.json"):
        return validate.MAX_JSON_FILE  # read below: its cells may hold media references
    if "/" in name:
        return None  # resumed snapshots: files of the code, never read by gitexp
    return validate.MAX_JSON_FILE  # every other file of .gitexp/ gitexp may read


def _sizes(repo: Objects, shas: list[ObjectId]) -> list[int | None]:
    try:
        return catfile.object_sizes(repo.root, [sha.decode() for sha in shas])
    except (GitexpError, OSError):  # no git program: read them (bounded by what git stored)
        return [len(repo.read_blob(sha)) for sha in shas]


def _check_meta(
    repo: Objects,
    meta: dict[str, ObjectId],
    links: set[str],
    sizes: dict[ObjectId, int | None] | None,
) -> str | None:
    """The files gitexp reads checked; ``sizes``: their sizes, asked of git already."""
    capped = [(name, sha, cap) for name, sha in meta.items() if (cap := _cap(name)) is not None]
    if sizes is None:
        sizes = dict(zip([c[1] for c in capped], _sizes(repo, [c[1] for c in capped]), strict=True))
    for name, sha, cap in capped:
        size = sizes.get(sha)
        if size is not None and size > cap:
            return f"{META_DIR}/{name} is {size} bytes, over the limit of {cap}"
    docs: dict[str, object] = {}
    for name in _JSON_FILES:
        if name in meta:
            try:
                docs[name] = validate.load_json(repo.read_blob(meta[name]), name)
            except ValueError as exc:
                return f"corrupted metadata: {exc}"
            if not isinstance(docs[name], dict):
                return f"corrupted metadata: {name} is not an object"
    problem = validate.check_run_json(docs.get("run.json", {}))
    if problem:
        return f"corrupted metadata: {problem}"
    problem = _check_config(repo, meta.get("config.yaml")) or _check_media(repo, meta, docs)
    if problem:
        return problem
    if LINEAGE_FILE in docs:  # its file names are paths a download writes
        problem = check_lineage(docs[LINEAGE_FILE])
        if problem:
            return f"corrupted metadata: {problem}"
    snapshot = docs.get("snapshot.json")
    skipped = snapshot.get("skipped") if isinstance(snapshot, dict) else None
    if isinstance(skipped, list):
        problem = validate.check_paths(_field(skipped, "path"), "snapshot.json")
        if problem:
            return problem
    artifacts = docs.get("artifacts.json")
    listed_paths: list[object] = []
    if isinstance(artifacts, dict):
        items = artifacts.get("artifacts")
        if not isinstance(items, list):
            return "corrupted metadata: artifacts.json has no artifacts list"
        if not all(isinstance(item, dict) and isinstance(item.get("md5"), str) for item in items):
            return "corrupted metadata: artifacts.json has an entry without an md5"
        # A media file (0.3) stays in the run's .gitexp/media/; every other artifact is
        # written into the work tree by a restore.
        media = [item for item in items if item.get("kind") == MEDIA_KIND]
        for path in _field(media, "path"):
            problem = validate.check_media_path(path)
            if problem:
                return f"artifacts.json: {problem}"
        listed_paths = list(_field([i for i in items if i not in media], "path"))
    problem = validate.check_paths(listed_paths, "artifacts.json") or _check_pointer(
        repo, meta.get(POINTER_FILE)
    )
    if problem:
        return problem
    return _through_link([p for p in listed_paths if isinstance(p, str)], links)


def _field(items: Iterable[object], key: str) -> Iterable[object]:
    return (item.get(key) for item in items if isinstance(item, dict))


def _check_config(repo: Objects, sha: ObjectId | None) -> str | None:
    if sha is None:
        return None
    from gitexp.model import config as configmod

    try:
        text = repo.read_blob(sha).decode("utf-8")
        config = configmod.load_yaml(text, source="config.yaml")
    except UnicodeDecodeError:
        return "config.yaml is not UTF-8 text"
    except GitexpError as exc:
        return exc.message
    problem = validate.check_shape(config)
    return f"config.yaml {problem}" if problem else None


def _check_media(repo: Objects, meta: dict[str, ObjectId], docs: dict[str, object]) -> str | None:
    """Every media reference a reader may follow names a path under ``.gitexp/media/``.

    metrics.json (the last reference of each key) is always looked at; the history rows
    and table files when the run has media files (in its tree, or kept in DVC), as only
    then is there a file for a reference to lead a reader to (a reader looks a path up
    in the run's tree and artifacts.json alone).
    """
    metrics = docs.get("metrics.json")
    if isinstance(metrics, dict):
        summary = metrics.get("summary")
        if isinstance(summary, dict):
            problem = validate.check_media_values(summary, "metrics.json summary")
            if problem:
                return f"corrupted metadata: {problem}"
    artifacts = docs.get("artifacts.json")
    items = artifacts.get("artifacts") if isinstance(artifacts, dict) else None
    in_dvc = isinstance(items, list) and any(
        isinstance(item, dict) and item.get("kind") == MEDIA_KIND for item in items
    )
    if not in_dvc and not any(name.startswith("media/") for name in meta):
        return None
    for name in sorted(meta):
        if name.startswith("history/") and name.endswith(".jsonl"):
            data = repo.read_blob(meta[name])
            if b"-file" not in data and b'"chart"' not in data and b"\\u" not in data:
                continue  # no media reference can be in it, escaped or not
            for row in historymod.parse_rows(data):
                problem = validate.check_media_values(row, f"{name} key")
                if problem:
                    return f"corrupted metadata: {problem}"
        elif name.startswith("media/") and name.endswith(".table.json"):
            try:
                table = validate.load_json(repo.read_blob(meta[name]), name)
            except ValueError as exc:
                return f"corrupted metadata: {exc}"
            rows = table.get("data") if isinstance(table, dict) else None
            for row in rows if isinstance(rows, list) else []:
                problem = validate.check_media_ref(row) if isinstance(row, list) else None
                if problem:
                    return f"corrupted metadata: {name}: {problem}"
    return None


def _check_pointer(repo: Objects, sha: ObjectId | None) -> str | None:
    """The DVC pointer file names the paths ``dvc pull`` writes: they are checked too."""
    if sha is None:
        return None
    from gitexp.model import config as configmod

    try:
        data = configmod.load_yaml(repo.read_blob(sha).decode("utf-8"), source=POINTER_FILE)
    except UnicodeDecodeError:
        return f"{POINTER_FILE} is not UTF-8 text"
    except GitexpError as exc:
        return exc.message
    outs = data.get("outs")
    if not isinstance(outs, list):
        return None
    return validate.check_paths(_field(outs, "path"), POINTER_FILE)


def _through_link(paths: list[str], links: set[str]) -> str | None:
    """An artifact under a symbolic link of the same snapshot would be written through it."""
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in links:
                return f"artifacts.json: {path[:200]!r} lies under a symbolic link of the run"
    return None


def check_alias_moves(
    repo: GitRepo, tail: bytes, sha: ObjectId, stop: ObjectId | None = None
) -> str | None:
    """Why the alias ref ``refs/gitexp/aliases/<tail>`` at ``sha`` is refused, or None.

    Every commit from ``sha`` down to ``stop`` (the alias's commit here, None for all)
    must be a move gitexp writes (artifacts/aliases.py ``check_move``), and its ref name
    a valid ``<name>/<alias>``.  At most 10,000 new moves are checked at once.
    """
    from gitexp.artifacts.aliases import check_move, split_ref_tail

    parsed = split_ref_tail(tail)
    if parsed is None:
        return "not a valid alias name"
    current: ObjectId | None = sha
    for _count in range(10_000):
        if current is None or current == stop:
            return None
        problem = check_move(repo, current, *parsed)
        if problem:
            return f"commit {current.decode()[:12]}: {problem}"
        _tree, parents, _message = repo.commit_info(current)
        current = parents[0] if parents else None
    return "more than 10,000 new moves"


def passed(runs: dict[str, ObjectId], problems: dict[str, str | None]) -> dict[str, ObjectId]:
    """The runs of ``runs`` that passed every check (a name that failed, say a bad ref
    name beside a good one for the same commit, is left out, not its commit)."""
    return {run_id: sha for run_id, sha in runs.items() if not problems.get(run_id)}
