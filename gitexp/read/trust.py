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

from gitexp.errors import FormatError, GitexpError
from gitexp.git import catfile
from gitexp.git.repo import MODE_LINK, MODE_TREE, GitRepo, ObjectId
from gitexp.model import validate
from gitexp.model.record import FORMAT_VERSION, META_DIR, REF_PREFIX, parse_row
from gitexp.read import verdicts
from gitexp.read.listing import RunEntry

Say = Callable[[str], None]
POINTER_FILE = ".gitexp-artifacts.dvc"  # artifacts/pointers.py: POINTER_PATH
_JSON_FILES = ("run.json", "metrics.json", "snapshot.json", "hardware.json", "artifacts.json")


def describe(run_id: str, reason: str) -> str:
    return f"{REF_PREFIX.decode()}{run_id}: {reason}"


def verdict(repo: GitRepo, run_id: str, sha: ObjectId) -> str | None:
    """Why the run ``run_id`` at ``sha`` is quarantined (None when it may be used)."""
    return check_runs(repo, {run_id: sha})[run_id]


def check_runs(repo: GitRepo, runs: dict[str, ObjectId]) -> dict[str, str | None]:
    """:func:`verdict` of many runs, with one read and one write of the cache.

    Runs of one project share most of their code's folders: each folder (by its object
    id and its path) is read and checked once per call, not once per run (a pull of
    1,000 runs of a 50-file project read 93,000 trees before, 93 after); and the sizes
    of every run's files are asked of one ``git cat-file``, not one per run.
    """
    known = verdicts.load(repo)
    new: dict[bytes, str] = {}
    folders: dict[tuple[str, ObjectId], _Folder] = {}
    pending: dict[ObjectId, tuple[dict[str, ObjectId], set[str]]] = {}
    for run_id, sha in runs.items():
        if validate.check_run_id(run_id) is None and sha not in known and sha not in new:
            found = _check_structure(repo, sha, folders)
            if isinstance(found, tuple):
                pending[sha] = found
            else:
                new[sha] = found or ""
    capped = {
        sha for meta, _ in pending.values() for name, sha in meta.items() if _cap(name) is not None
    }
    sizes = dict(zip(capped, _sizes(repo, list(capped)), strict=True))
    for sha, (meta, links) in pending.items():
        new[sha] = _checked_meta(repo, meta, links, sizes) or ""
    out: dict[str, str | None] = {}
    for run_id, sha in runs.items():
        problem = validate.check_run_id(run_id)
        if problem is None:
            reason = known.get(sha)
            problem = (new[sha] if reason is None else reason) or None
        out[run_id] = problem
    verdicts.save(repo, new)
    return out


def require(repo: GitRepo, entry: RunEntry) -> None:
    """Raise exit 7 with the reason when the run ``entry`` is quarantined."""
    problem = entry.problem or verdict(repo, entry.id, entry.commit)
    if problem:
        raise FormatError(
            f"run {entry.id[:80]} is quarantined: {problem}",
            f"gitexp will not use it; inspect it with `git show {REF_PREFIX.decode()}"
            f"{entry.id[:80]}` or remove it with `gitexp rm {entry.id[:80]}`.",
        )


def listed(entries: list[RunEntry], say: Say) -> list[RunEntry]:
    """The runs a listing may show: quarantined ones left out with one warning each."""
    kept = []
    for entry in entries:
        if entry.problem:
            say(f"skipped quarantined run {describe(entry.id, entry.problem)}")
        else:
            kept.append(entry)
    return kept


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
    repo: GitRepo, sha: ObjectId, folders: dict[tuple[str, ObjectId], _Folder]
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
    try:
        problem, meta, links = _walk(repo, root, folders)
    except (GitexpError, KeyError) as exc:
        return _missing(exc)
    if problem is not None:
        return problem
    if row is not None and int(row.get("format", 1)) > FORMAT_VERSION:
        return None  # a newer format's files are its own business: show asks to upgrade
    return meta, links


def _checked_meta(
    repo: GitRepo,
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


class _Folder:
    """One folder of a run's tree, checked: its entries' count, the subfolders to walk,
    its symbolic links and the files gitexp reads, by full path."""

    __slots__ = ("count", "links", "meta", "subfolders")

    def __init__(self) -> None:
        self.count = 0
        self.subfolders: list[tuple[str, ObjectId]] = []
        self.links: list[str] = []
        self.meta: list[tuple[str, ObjectId]] = []


def _walk(
    repo: GitRepo, root: ObjectId, folders: dict[tuple[str, ObjectId], _Folder]
) -> tuple[str | None, dict[str, ObjectId], set[str]]:
    """Every entry of the tree checked; returns (problem, the files gitexp reads by their
    path under ``.gitexp/`` plus the pointer file, every symbolic link's path).

    A folder's checks depend only on its object and its path, so a folder seen at the
    same path before (in ``folders``) is not read again; one with a problem is never
    kept there, so its problem is found (and reported the same way) each time."""
    meta: dict[str, ObjectId] = {}
    links: set[str] = set()
    todo: list[tuple[str, ObjectId]] = [("", root)]
    count = 0
    while todo:
        prefix, tree = todo.pop()
        folder = folders.get((prefix, tree))
        if folder is None:
            problem, folder = _folder(repo, prefix, tree, count)
            if problem is not None:
                return problem, meta, links
            folders[(prefix, tree)] = folder
        count += folder.count
        if count > validate.MAX_TREE_ENTRIES:
            return f"its tree has more than {validate.MAX_TREE_ENTRIES} entries", meta, links
        todo.extend(folder.subfolders)
        links.update(folder.links)
        for path, sha in folder.meta:
            meta[path] = sha
    return None, meta, links


def _folder(repo: GitRepo, prefix: str, tree: ObjectId, count: int) -> tuple[str | None, _Folder]:
    """One folder's entries checked (``count``: entries of the tree seen before it)."""
    folder = _Folder()
    for name, (mode, sha) in repo.tree_entries(tree).items():
        folder.count += 1
        if count + folder.count > validate.MAX_TREE_ENTRIES:
            return f"its tree has more than {validate.MAX_TREE_ENTRIES} entries", folder
        if not name or b"/" in name or b"\0" in name:
            return f"its tree has an entry named {name[:100]!r}", folder
        path = prefix + name.decode("utf-8", "surrogateescape")
        problem = validate.check_tree_entry(path, mode)
        if problem:
            return f"its tree holds {problem}", folder
        if mode == MODE_TREE:
            folder.subfolders.append((path + "/", sha))
        elif mode == MODE_LINK:
            folder.links.append(path)
        elif path.startswith(META_DIR + "/"):
            folder.meta.append((path[len(META_DIR) + 1 :], sha))
        elif path == POINTER_FILE:
            folder.meta.append((path, sha))
    return None, folder


def _cap(name: str) -> int | None:
    if name in validate.META_LIMITS:
        return validate.META_LIMITS[name]
    if name.startswith(("history/", "system/")):
        return validate.MAX_HISTORY_CHUNK
    if "/" in name:
        return None  # resumed snapshots: files of the code, never read by gitexp
    return validate.MAX_JSON_FILE  # every other file of .gitexp/ gitexp may read


def _sizes(repo: GitRepo, shas: list[ObjectId]) -> list[int | None]:
    try:
        return catfile.object_sizes(repo.root, [sha.decode() for sha in shas])
    except (GitexpError, OSError):  # no git program: read them (bounded by what git stored)
        return [len(repo.read_blob(sha)) for sha in shas]


def _check_meta(
    repo: GitRepo,
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
    problem = _check_config(repo, meta.get("config.yaml"))
    if problem:
        return problem
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
        listed_paths = list(_field(items, "path"))
        if not all(isinstance(item, dict) and isinstance(item.get("md5"), str) for item in items):
            return "corrupted metadata: artifacts.json has an entry without an md5"
    problem = validate.check_paths(listed_paths, "artifacts.json") or _check_pointer(
        repo, meta.get(POINTER_FILE)
    )
    if problem:
        return problem
    return _through_link([p for p in listed_paths if isinstance(p, str)], links)


def _field(items: Iterable[object], key: str) -> Iterable[object]:
    return (item.get(key) for item in items if isinstance(item, dict))


def _check_config(repo: GitRepo, sha: ObjectId | None) -> str | None:
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


def _check_pointer(repo: GitRepo, sha: ObjectId | None) -> str | None:
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
