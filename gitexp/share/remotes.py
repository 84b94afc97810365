"""What push and pull share: which remote, the remote-tracking refs, fast-forwards, reports.

A remote's runs are mirrored under ``refs/remotes/<remote>/gitexp/runs/<id>`` (git's
remote-tracking namespace), never straight into ``refs/gitexp/runs/``: a fetch with
``--prune`` may then delete mirrors of runs the remote no longer has, but never a local
run.  Local runs only move forward from a mirror: a run that is new here is created, a
run the remote extended is fast-forwarded, and a run whose histories differ on the two
sides is reported and left alone (``diverged``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gitexp.artifacts.pointers import (
    ARTIFACTS_FILE,
    Artifact,
    parse_artifacts_json,
    version_files,
)
from gitexp.errors import GitexpError, RepositoryStateError
from gitexp.git import binary as gitbin
from gitexp.git import catfile
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.ids import short_id
from gitexp.model.lineage import LINEAGE_FILE
from gitexp.model.record import META_DIR, REF_PREFIX, parse_row
from gitexp.read.listing import RunEntry
from gitexp.render.cells import printable
from gitexp.render.words import plural
from gitexp.slotted import Slotted

if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow

RUNS_REFSPEC_SOURCE = "refs/gitexp/runs/*"

# Outcomes of one run in a push or pull.  The first ones are failures (non-zero exit).
FAILED = "failed"
DIVERGED = "diverged"
NEW = "new"
UPDATED = "updated"
UP_TO_DATE = "up to date"
REFUSED = "refused"  # pull: the remote rewrote a finished run (share/policy.py)
AHEAD = "ahead"  # pull: this clone has commits of the run the remote lacks
BEHIND = "behind"  # push: the remote has newer commits of the run (gitexp pull takes them)
QUARANTINED = "quarantined"  # pull: the run failed validation (read/trust.py); not copied
# New runs from which one git transaction creates them (a pull after a clone brings
# thousands); fewer go one by one, as they always did.
BULK_CREATE_MIN = 64
FAILURES = (FAILED, DIVERGED, REFUSED, QUARANTINED)


def sibling_mirror(runs_prefix: bytes, kind: str) -> bytes:
    """Where a fetch mirrors the remote's ``refs/gitexp/<kind>/`` (sweeps, claims) beside
    its runs' mirror ``runs_prefix``: ``refs/remotes/<remote>/gitexp/<kind>/`` for a named
    remote, a ``-<kind>/`` sibling of a URL's temporary namespace."""
    if runs_prefix.endswith(b"/gitexp/runs/"):  # refs/remotes/<remote>/gitexp/runs/
        return runs_prefix[: -len(b"runs/")] + kind.encode() + b"/"
    return runs_prefix.rstrip(b"/") + b"-" + kind.encode() + b"/"


def tracking_prefix(remote: str) -> bytes:
    return f"refs/remotes/{remote}/gitexp/runs/".encode()


def fetch_refspec(remote: str) -> str:
    """The fetch refspec mirroring a remote's runs (``gitexp install`` configures it)."""
    return f"+{RUNS_REFSPEC_SOURCE}:refs/remotes/{remote}/gitexp/runs/*"


def is_named_remote(root: str, remote: str) -> bool:
    if remote.startswith("/") or ":" in remote or "\\" in remote:
        return False  # a path or URL: no remote's name can start with "/" or hold ":" or "\\"
    return remote in gitbin.remotes(root)


def default_remote(root: str, for_push: bool, named_by: str | None = None) -> str:
    """The remote ``git push`` (or ``git fetch``) would use with no remote named.

    ``named_by``: how the command names a remote instead, for the error when there is
    none (default ``gitexp push REMOTE`` or ``gitexp pull REMOTE``).

    Push: ``branch.<current>.pushRemote``, ``remote.pushDefault``, ``branch.<current>.remote``,
    then ``origin``; fetch: ``branch.<current>.remote``, then ``origin``.
    """
    branch = gitbin.current_branch(root)
    keys = []
    if for_push and branch:
        keys.append(f"branch.{branch}.pushRemote")
    if for_push:
        keys.append("remote.pushDefault")
    if branch:
        keys.append(f"branch.{branch}.remote")
    for key in keys:
        value = gitbin.config_get(root, key)
        if value and value != ".":
            return value
    names = gitbin.remotes(root)
    if "origin" in names:
        return "origin"
    named_by = named_by or ("gitexp push REMOTE" if for_push else "gitexp pull REMOTE")
    raise RepositoryStateError(
        "no remote to " + ("push to" if for_push else "fetch from") + " (git would use "
        "`origin`, and there is none)",
        f"Name one (`{named_by}`), or add one: `git remote add origin URL`.",
    )


class RunReport(Slotted):
    """What happened to one run."""

    _fields = ("id", "name", "action", "commit", "artifacts", "error")
    __slots__ = _fields

    def __init__(
        self,
        id: str,
        name: str,
        action: str,
        commit: str | None = None,
        artifacts: int = 0,  # artifact objects moved
        error: str | None = None,
    ) -> None:
        self.id, self.name, self.action, self.commit = id, name, action, commit
        self.artifacts, self.error = artifacts, error

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "action": self.action,
            "commit": self.commit,
            "artifact_objects": self.artifacts,
            "error": self.error,
        }


class SyncReport(Slotted):
    """A push's or pull's result, run by run."""

    _fields = ("remote", "dvc_remote", "runs", "messages", "sweeps", "aliases")
    __slots__ = _fields

    def __init__(self, remote: str, dvc_remote: str | None = None) -> None:
        self.remote, self.dvc_remote = remote, dvc_remote
        self.runs: list[RunReport] = []
        self.messages: list[str] = []
        self.sweeps: list[str] = []  # what happened to sweep refs (share/sweeps.py)
        # Artifact aliases (share/aliassync.py): id is "name:alias", name is empty.
        self.aliases: list[RunReport] = []

    @property
    def failed(self) -> list[RunReport]:
        return [run for run in self.runs if run.action in FAILURES]

    def count(self, action: str) -> int:
        return sum(1 for run in self.runs if run.action == action)

    def as_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "dvc_remote": self.dvc_remote,
            "runs": [run.as_json() for run in self.runs],
            "aliases": [alias.as_json() for alias in self.aliases],
            "messages": self.messages,
            "sweeps": self.sweeps,
            "ok": not self.failed,
        }


def run_name(repo: GitRepo, sha: ObjectId) -> str:
    try:
        row = parse_row(repo.commit_message(sha))
    except Exception:
        return ""
    return str(row.get("name") or "") if row else ""


class RunCommit(Slotted):
    """What push reads of a run commit: its listing row and its tree."""

    _fields = ("row", "tree")
    __slots__ = _fields

    def __init__(self, row: ListingRow, tree: str | None) -> None:
        self.row = row  # {} for a commit without one (or not a commit)
        self.tree = tree

    @property
    def name(self) -> str:
        return str(self.row.get("name") or "")

    @property
    def status(self) -> str | None:
        status = self.row.get("status")
        return status if isinstance(status, str) else None


def read_run_commits(repo: GitRepo, commits: Iterable[ObjectId]) -> dict[ObjectId, RunCommit]:
    """The listing row and tree of each commit, all read by one ``git cat-file --batch``.

    1,000 commits take git ~10 ms; dulwich, one read each, took 80 ms.
    """
    shas = sorted(set(commits))
    found = catfile.read_objects(repo.root, [sha.decode() for sha in shas])
    out: dict[ObjectId, RunCommit] = {}
    for sha, obj in zip(shas, found, strict=True):
        row, tree = None, None
        if obj is not None and obj[0] == "commit":
            headers, _blank, message = obj[1].partition(b"\n\n")
            if headers.startswith(b"tree "):
                tree = headers[5:].split(b"\n", 1)[0].decode("ascii", "replace")
            try:
                row = parse_row(message.decode("utf-8", "replace"))
            except Exception:  # a forged row (deeply nested, say) reads as none, as in ls
                row = None
        out[sha] = RunCommit(row or {}, tree)
    return out


def read_artifacts(
    repo: GitRepo, commits: dict[ObjectId, RunCommit]
) -> dict[ObjectId, list[Artifact]]:
    """The artifacts of each commit (``[]`` for none), as ``run_artifacts`` reads them.

    Each distinct tree's ``.gitexp/artifacts.json`` is read once, all by one git: 1,000
    runs take it 10-30 ms, where dulwich, three reads a run, took 0.28 s.
    """
    trees = sorted({commit.tree for commit in commits.values() if commit.tree})
    names = [f"{tree}:{META_DIR}/{ARTIFACTS_FILE}" for tree in trees]
    names += [f"{tree}:{META_DIR}/{LINEAGE_FILE}" for tree in trees]
    found = catfile.read_objects(repo.root, names)
    by_tree: dict[str, list[Artifact]] = {}
    for tree, obj, lineage in zip(trees, found[: len(trees)], found[len(trees) :], strict=True):
        items: list[Artifact] = []
        if obj is not None and obj[0] == "blob":
            try:
                items = parse_artifacts_json(obj[1].decode("utf-8"))
            except (ValueError, KeyError, UnicodeDecodeError):
                items = []  # as run_artifacts: a damaged list counts as none
        if lineage is not None and lineage[0] == "blob":
            items += version_files(lineage[1])  # the files of the versions it logged
        by_tree[tree] = items
    return {sha: list(by_tree.get(commit.tree or "", [])) for sha, commit in commits.items()}


def entries_for(repo: GitRepo, refs: dict[str, ObjectId]) -> list[RunEntry]:
    """Runs as ``resolve`` wants them (newest first) from ``{id: commit}``."""
    entries = []
    for run_id, sha in refs.items():
        try:
            row = parse_row(repo.commit_message(sha)) or {}
        except Exception:
            row = {}
        entries.append(RunEntry(run_id, sha, row))
    entries.sort(key=lambda entry: entry.start, reverse=True)
    return entries


def create_new_runs(
    repo: GitRepo,
    selected: dict[str, ObjectId],
    problems: dict[str, str | None],
    names: bool = True,
    rows: dict[ObjectId, tuple[ListingRow, str]] | None = None,
) -> dict[str, str]:
    """The runs this clone lacks, created in one git transaction: {run id: its name}.

    A run new here needs no policy (share/policy.py judges changes to a run this clone
    has), so many are made at once (``gitexp pull``, and the first command after a plain
    ``git fetch``: share/fetched.py); a few, or where git refuses the transaction (a run
    recorded meanwhile), are left to :func:`fast_forward`, as every other run is.
    ``rows``: listing rows the checks decoded already (read/trust.py), whose names are
    taken from them instead of reading those commits again.
    """
    local = repo.ref_names(REF_PREFIX)
    new = {
        run_id: sha
        for run_id, sha in selected.items()
        if not problems.get(run_id) and run_id.encode() not in local
    }
    if len(new) < BULK_CREATE_MIN:
        return {}
    refs = {f"{REF_PREFIX.decode()}{run_id}": sha.decode() for run_id, sha in new.items()}
    if not gitbin.create_refs(repo.root, refs, "gitexp: fetched run"):
        return {}
    if not names:
        return dict.fromkeys(new, "")
    known = rows or {}
    unread = _names(repo, {run_id: sha for run_id, sha in new.items() if sha not in known})
    return {
        run_id: unread[run_id] if sha not in known else str(known[sha][0].get("name") or "")
        for run_id, sha in new.items()
    }


def _names(repo: GitRepo, runs: dict[str, ObjectId]) -> dict[str, str]:
    """Each run's name from its commit's listing row, all read by one ``git cat-file``."""
    names = dict.fromkeys(runs, "")
    try:
        found = catfile.read_objects(repo.root, [sha.decode() for sha in runs.values()])
    except (GitexpError, OSError):
        return {run_id: run_name(repo, sha) for run_id, sha in runs.items()}
    for run_id, obj in zip(runs, found, strict=True):
        if obj is not None and obj[0] == "commit":
            row = parse_row(obj[1].partition(b"\n\n")[2].decode("utf-8", "replace"))
            names[run_id] = str(row.get("name") or "") if row else ""
    return names


def fast_forward(repo: GitRepo, run_id: str, remote_sha: ObjectId) -> tuple[str, str | None]:
    """Bring the local run ``run_id`` forward to ``remote_sha`` if that never loses anything
    and the pull policy allows it (share/policy.py).

    Returns the action (``new``, ``updated``, ``up to date``, ``ahead``, ``diverged`` or
    ``refused``) and, for ``refused``, why.
    """
    from gitexp.share.policy import refusal

    ref = REF_PREFIX + run_id.encode()
    for _attempt in range(3):  # a recorder may move the ref meanwhile: look again
        local = repo.read_ref(ref)
        if local is None:
            if repo.create_ref(ref, remote_sha, b"gitexp: fetched run"):
                return NEW, None
            continue
        if local == remote_sha:
            return UP_TO_DATE, None
        if repo.is_ancestor(local, remote_sha):
            why = refusal(repo, local, remote_sha)
            if why is not None:
                return REFUSED, why
            if repo.move_ref(ref, local, remote_sha, b"gitexp: fetched run (fast-forward)"):
                return UPDATED, None
            continue
        if repo.is_ancestor(remote_sha, local):
            return AHEAD, None
        return DIVERGED, None
    return DIVERGED, None


def run_objects(
    runs: dict[str, list[Artifact]], objects: dict[str, set[str]]
) -> dict[str, set[str]]:
    """Every DVC object each run needs, from its artifacts and the expanded digests."""
    return {
        run_id: set().union(*(objects.get(a.digest.md5, {a.digest.md5}) for a in artifacts))
        for run_id, artifacts in runs.items()
        if artifacts
    }


def describe(report: RunReport) -> str:
    # The name comes from the run's commit, written by whoever recorded it.
    text = f"  {report.action:<11}{short_id(report.id)}  {printable(report.name)}"
    if report.artifacts:
        text += f"  ({plural(report.artifacts, 'artifact object')} moved)"
    if report.error:  # may quote what the remote wrote (a file's name)
        text += f"\n               {printable(report.error)}"
    return text


def summary_line(report: SyncReport, verb: str) -> str:
    moved = report.count(NEW) + report.count(UPDATED)
    parts = [f"{plural(moved, 'run')} {verb}"]
    for action in (FAILED, DIVERGED, REFUSED, AHEAD, BEHIND, UP_TO_DATE):
        count = report.count(action)
        if count:
            parts.append(f"{count} {action}")
    return ", ".join(parts)


def print_report(
    report: SyncReport, verb: str, as_json: bool, print_json: Callable[[object], None]
) -> int:
    """Print a push's or pull's report (moved and failed runs, counts); raise on failure."""
    from gitexp.errors import TransferError

    if as_json:
        print_json(report.as_json())
    else:
        where = f"git remote {report.remote}"
        if report.dvc_remote:
            where += f", DVC remote {report.dvc_remote}"
        lines = [f"{where}:"]
        lines += [describe(run) for run in report.runs if run.action != UP_TO_DATE]
        lines += [f"  {line}" for line in report.sweeps]
        lines += [
            f"  {alias.action:<11}alias {printable(alias.id)}"
            + (f"\n               {printable(alias.error)}" if alias.error else "")
            for alias in report.aliases
            if alias.action != UP_TO_DATE
        ]
        lines.append(summary_line(report, verb))
        lines += [f"  dvc: {message}" for message in report.messages[:5]]
        print("\n".join(lines))  # one write: 1,000 runs are 1,000 lines
    aliases = [alias for alias in report.aliases if alias.action in FAILURES]
    if report.failed or aliases:
        what = plural(len(report.failed), "run") if report.failed else ""
        if aliases:
            what += (" and " if what else "") + plural(len(aliases), "alias", "aliases")
        raise TransferError(
            f"{what} did not move (listed above)",
            "Fix the cause shown for each and run the command again; what moved is kept.",
        )
    return 0
