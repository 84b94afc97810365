"""A run's artifacts: what ``.gitexp/artifacts.json`` and the DVC pointer file hold.

Artifacts are files and folders a run produced (``gitexp run --out``,
``gitexp.log_artifact``) and the untracked files its snapshot left out as too large.
Their content lives in DVC's cache and remotes; the run's tree keeps

* ``.gitexp-artifacts.dvc`` at the top of the snapshot: one DVC pointer file listing
  every artifact as an output (``outs:``), so that after ``gitexp restore`` a plain
  ``dvc pull`` fetches them.  One file at the top, not ``<path>.dvc`` beside each
  artifact, because DVC skips ``.dvc`` files inside git-ignored folders, where outputs
  usually live (``outputs/``, ``checkpoints/``);
* ``.gitexp/artifacts.json``: the same list for gitexp (push, pull, restore, gc read
  one small blob per run), with where each artifact came from.

See docs/format.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitexp.artifacts.digest import Digest
from gitexp.git.repo import MODE_TREE, GitRepo, ObjectId
from gitexp.model import values
from gitexp.model.lineage import LINEAGE_FILE, parse_lineage
from gitexp.model.record import META_DIR
from gitexp.slotted import Slotted

if TYPE_CHECKING:
    from gitexp.model.shapes import ArtifactEntry

POINTER_PATH = ".gitexp-artifacts.dvc"
ARTIFACTS_FILE = "artifacts.json"
ARTIFACTS_FORMAT = 1

OUTPUT = "output"  # gitexp run --out PATH
LOGGED = "logged"  # gitexp.log_artifact(path)
LARGE_FILE = "large-file"  # an untracked file the snapshot left out as too large
MEDIA = "media"  # a logged media file too large for git, at its .gitexp/media/ path (0.3)
KINDS = (OUTPUT, LOGGED, LARGE_FILE, MEDIA)
# A file of an artifact version (.gitexp/lineage.json): moved by push, pull and gc with
# the run's other artifacts, never written into the work tree by restore.
VERSION_FILE = "version-file"


class Artifact(Slotted):
    """One artifact of a run (read-only)."""

    _fields = ("path", "kind", "digest", "name", "type")
    __slots__ = _fields
    path: str  # relative to the repository root, "/"-separated
    kind: str
    digest: Digest
    name: str | None
    type: str | None

    def __init__(
        self, path: str, kind: str, digest: Digest, name: str | None = None, type: str | None = None
    ) -> None:
        self.path, self.kind, self.digest, self.name, self.type = path, kind, digest, name, type

    def __hash__(self) -> int:
        return hash((self.path, self.kind, self.digest, self.name, self.type))

    def as_json(self) -> ArtifactEntry:
        out: ArtifactEntry = {"path": self.path, "kind": self.kind, "md5": self.digest.md5}
        out["size"] = self.digest.size
        if self.digest.isdir:
            out["nfiles"] = self.digest.nfiles
        elif self.digest.isexec:
            out["isexec"] = True
        if self.name is not None:
            out["name"] = self.name
        if self.type is not None:
            out["type"] = self.type
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:  # the JSON boundary
        nfiles = data.get("nfiles")
        digest = Digest(
            str(data["md5"]),
            int(data.get("size") or 0),
            int(nfiles) if isinstance(nfiles, int) else None,
            bool(data.get("isexec")),
        )
        name, kind = data.get("name"), data.get("type")
        return cls(
            str(data["path"]),
            str(data.get("kind") or OUTPUT),
            digest,
            str(name) if name is not None else None,
            str(kind) if kind is not None else None,
        )


def in_work_tree(artifacts: list[Artifact]) -> list[Artifact]:
    """The artifacts a restore writes into the work tree (and `dvc pull` fetches): all
    but media files, which belong in the run's .gitexp/media/ folder alone."""
    return [item for item in artifacts if item.kind != MEDIA]


def artifacts_json(artifacts: list[Artifact]) -> str:
    data = {
        "format": ARTIFACTS_FORMAT,
        "pointer": POINTER_PATH,
        "artifacts": [item.as_json() for item in artifacts],
    }
    return values.dumps(data, indent=2) + "\n"


def pointer_text(artifacts: list[Artifact]) -> str:
    """The DVC pointer file: one ``outs`` entry per artifact, as ``dvc add`` writes them."""
    outs: list[dict[str, object]] = []
    for item in artifacts:
        out: dict[str, object] = {"md5": item.digest.md5, "size": item.digest.size}
        if item.digest.isdir:
            out["nfiles"] = item.digest.nfiles
        elif item.digest.isexec:
            out["isexec"] = True
        out["hash"] = "md5"
        out["path"] = item.path
        outs.append(out)
    header = (
        "# Artifacts of a gitexp run: `dvc pull` fetches them. Written by gitexp\n"
        "# (docs/format.md); the run's .gitexp/artifacts.json lists the same files.\n"
    )
    import yaml  # PyYAML costs ~10 ms to import; only runs with artifacts need it here

    return header + yaml.safe_dump({"outs": outs}, sort_keys=False, allow_unicode=True)


def parse_artifacts_json(text: str) -> list[Artifact]:
    data = values.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
        raise ValueError(f"{ARTIFACTS_FILE} has no artifacts list")
    return [Artifact.from_json(item) for item in data["artifacts"] if isinstance(item, dict)]


def run_artifacts(repo: GitRepo, commit: ObjectId, versions: bool = False) -> list[Artifact]:
    """The artifacts recorded in a run commit (none for runs without ``artifacts.json``);
    with ``versions``, also the files of the versions it logged (``VERSION_FILE``), for
    what moves objects (push, pull, gc) rather than writes the work tree."""
    root, _parents, _message = repo.commit_info(commit)
    out: list[Artifact] = []
    found = repo.lookup_path(root, f"{META_DIR}/{ARTIFACTS_FILE}".encode())
    if found is not None and found[0] != MODE_TREE:
        try:
            out = parse_artifacts_json(repo.read_blob(found[1]).decode("utf-8"))
        except (ValueError, KeyError, UnicodeDecodeError):
            out = []
    found = repo.lookup_path(root, f"{META_DIR}/{LINEAGE_FILE}".encode()) if versions else None
    if found is not None and found[0] != MODE_TREE:
        out += version_files(repo.read_blob(found[1]))
    return out


def version_files(lineage: bytes) -> list[Artifact]:
    """The files of the versions a ``lineage.json`` names, as artifacts to move."""
    try:
        outputs = parse_lineage(lineage).outputs
    except (ValueError, UnicodeDecodeError):
        return []
    return [
        Artifact(f"{out.name}/{item.name}", VERSION_FILE, Digest(item.md5, item.size))
        for out in outputs
        for item in out.files
    ]


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or inside the folder ``prefix``."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")
