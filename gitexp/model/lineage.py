"""A run's lineage: the versioned artifacts it logged and the ones it used.

``.gitexp/lineage.json`` (docs/format.md, "Lineage", added in 0.3) holds two lists:

* ``outputs``: each artifact the run logged with ``run.log_artifact(Artifact(...))``:
  its name, type, files (name, MD5, size; the content lives in DVC's cache and
  remotes), references (URIs recorded, never fetched), metadata, the aliases the run
  asked for, and the version **digest**;
* ``inputs``: each artifact it used (``run.use_artifact("model:best")``): name, digest,
  the version number it had here then, and the run that produced it.

A version is its digest, a SHA-256 over the file names and hashes, the references and
the metadata: the same content logged by two runs is one version.  Version numbers are
not stored (read/catalog.py computes them from the runs), so two clones that know the
same runs agree on them.

Everything here is pure: records, JSON, and the checks a file read from a teammate's
run must pass (a file name is a path the download writes).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from gitexp.model import validate, values
from gitexp.slotted import Slotted

LINEAGE_FILE = "lineage.json"
LINEAGE_FORMAT = 1
DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")
VERSION_PATTERN = re.compile(r"^v(\d+)$")
LATEST = "latest"
MAX_FILES = 100_000  # files of one artifact version


def check_name(text: object, what: str = "artifact name") -> str | None:
    """Why ``text`` cannot name an artifact (or an alias), or None (model/validate.py)."""
    return validate.check_artifact_name(text, what)


def check_alias(text: object) -> str | None:
    """Why ``text`` cannot be an alias: a name, and neither ``latest`` nor ``vN``."""
    problem = check_name(text, "alias")
    if (
        problem is None
        and isinstance(text, str)
        and (text == LATEST or VERSION_PATTERN.match(text))
    ):
        problem = f"alias {text!r} is reserved: `latest` and `vN` are computed from the runs"
    return problem


class VersionFile(Slotted):
    """One file of an artifact version, named as it is downloaded."""

    _fields = ("name", "md5", "size", "isexec")
    __slots__ = _fields
    name: str
    md5: str
    size: int
    isexec: bool

    def __init__(self, name: str, md5: str, size: int, isexec: bool = False) -> None:
        self.name, self.md5, self.size, self.isexec = name, md5, size, isexec

    def __hash__(self) -> int:
        return hash((self.name, self.md5, self.size, self.isexec))


class Output(Slotted):
    """One artifact version a run logged."""

    _fields = (
        "name",
        "type",
        "digest",
        "files",
        "references",
        "metadata",
        "description",
        "aliases",
    )
    __slots__ = _fields
    name: str
    type: str
    digest: str
    files: list[VersionFile]
    references: list[dict[str, str]]  # {"uri", "name"}
    metadata: dict[str, Any]
    description: str | None
    aliases: list[str]

    def __init__(
        self,
        name: str,
        type: str,
        files: list[VersionFile],
        references: list[dict[str, str]] | None = None,
        metadata: dict[str, Any] | None = None,
        description: str | None = None,
        aliases: list[str] | None = None,
        digest: str | None = None,
    ) -> None:
        self.name, self.type = name, type
        self.files = sorted(files, key=lambda item: item.name)
        self.references = list(references or [])
        self.metadata = dict(metadata or {})
        self.description = description
        self.aliases = list(aliases or [])
        self.digest = digest or version_digest(self.files, self.references, self.metadata)

    def __hash__(self) -> int:
        return hash((self.name, self.digest))

    @property
    def size(self) -> int:
        return sum(item.size for item in self.files)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "type": self.type, "digest": self.digest}
        out["files"] = [
            {"name": f.name, "md5": f.md5, "size": f.size, **({"isexec": True} if f.isexec else {})}
            for f in self.files
        ]
        if self.references:
            out["references"] = self.references
        if self.metadata:
            out["metadata"] = self.metadata
        if self.description:
            out["description"] = self.description
        if self.aliases:
            out["aliases"] = self.aliases
        return out


class Input(Slotted):
    """One artifact version a run used."""

    _fields = ("name", "digest", "version", "run")
    __slots__ = _fields
    name: str
    digest: str
    version: str | None  # "v3" as this clone numbered it when the run used it
    run: str | None  # the run that produced it

    def __init__(self, name: str, digest: str, version: str | None, run: str | None) -> None:
        self.name, self.digest, self.version, self.run = name, digest, version, run

    def __hash__(self) -> int:
        return hash((self.name, self.digest, self.version, self.run))

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "digest": self.digest}
        if self.version is not None:
            out["version"] = self.version
        if self.run is not None:
            out["run"] = self.run
        return out


class Lineage(Slotted):
    _fields = ("outputs", "inputs")
    __slots__ = _fields
    outputs: list[Output]
    inputs: list[Input]

    def __init__(self, outputs: list[Output] | None = None, inputs: list[Input] | None = None):
        self.outputs = list(outputs or [])
        self.inputs = list(inputs or [])

    def to_json(self) -> str:
        data = {
            "format": LINEAGE_FORMAT,
            "outputs": [item.as_json() for item in self.outputs],
            "inputs": [item.as_json() for item in self.inputs],
        }
        return values.dumps(data, indent=2) + "\n"


def version_digest(
    files: list[VersionFile], references: list[dict[str, str]], metadata: dict[str, Any]
) -> str:
    """The version's identity: SHA-256 of its sorted file names and hashes, references and
    metadata as canonical JSON (so any clone computes the same from the same content)."""
    canonical = {
        "files": sorted([f.name, f.md5] for f in files),
        "references": sorted([r.get("name", ""), r.get("uri", "")] for r in references),
        "metadata": metadata,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check_lineage(data: object) -> str | None:
    """Why a ``lineage.json`` read from a run is refused, or None (docs/format.md)."""
    if not isinstance(data, dict):
        return "lineage.json is not an object"
    for key in ("outputs", "inputs"):
        if not isinstance(data.get(key, []), list):
            return f"lineage.json: {key} is not a list"
    for item in data.get("outputs", []):
        problem = _check_output(item)
        if problem:
            return f"lineage.json: {problem}"
    for item in data.get("inputs", []):
        if not isinstance(item, dict):
            return "lineage.json: an input is not an object"
        problem = check_name(item.get("name")) or _check_digest(item.get("digest"))
        run = item.get("run")
        if problem is None and run is not None and validate.check_run_id(str(run)):
            problem = f"input {item.get('name')!r} names an invalid run"
        if problem:
            return f"lineage.json: {problem}"
    return None


def _check_digest(digest: object) -> str | None:
    if not isinstance(digest, str) or not DIGEST_PATTERN.match(digest):
        return f"digest {str(digest)[:80]!r} is not a SHA-256 in hex"
    return None


def _check_output(item: object) -> str | None:
    if not isinstance(item, dict):
        return "an output is not an object"
    problem = check_name(item.get("name")) or _check_digest(item.get("digest"))
    if problem:
        return problem
    files = item.get("files", [])
    if not isinstance(files, list) or len(files) > MAX_FILES:
        return f"output {item['name']!r}: files is not a list of at most {MAX_FILES}"
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return f"output {item['name']!r}: a file has no name"
        why = validate.check_path(entry["name"])
        if why:
            return f"output {item['name']!r}: {why}"
        md5, size = entry.get("md5"), entry.get("size")
        if not isinstance(md5, str) or not MD5_PATTERN.match(md5):
            return f"output {item['name']!r}: file {entry['name'][:200]!r} has no MD5"
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"output {item['name']!r}: file {entry['name'][:200]!r} has no size"
    for alias in item.get("aliases", []) or []:
        why = check_alias(alias)
        if why:
            return f"output {item['name']!r}: {why}"
    # The digest is the version's identity (aliases and use_artifact name it): a run may
    # only claim the one its own files, references and metadata give.
    if _output_digest(item, files) != item["digest"]:
        return f"output {item['name']!r}: its digest is not that of its files and metadata"
    return None


def _output_digest(item: dict[str, Any], files: list[dict[str, Any]]) -> str:
    metadata = item.get("metadata")
    return version_digest(
        [VersionFile(f["name"], f["md5"], f["size"], bool(f.get("isexec"))) for f in files],
        _references(item),
        metadata if isinstance(metadata, dict) else {},
    )


def _references(item: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"uri": str(r.get("uri", "")), "name": str(r.get("name", ""))}
        for r in item.get("references", []) or []
        if isinstance(r, dict)
    ]


def parse_lineage(text: str | bytes) -> Lineage:
    """The lineage of a run; raises ValueError for a file :func:`check_lineage` refuses."""
    # A teammate's file: size, depth and node limits first (a deeply nested one would
    # otherwise end in RecursionError far from here).
    data = validate.load_json(text if isinstance(text, bytes) else text.encode(), "lineage.json")
    problem = check_lineage(data)
    if problem:
        raise ValueError(problem)
    outputs = []
    for item in data.get("outputs", []):
        files = [
            VersionFile(f["name"], f["md5"], f["size"], bool(f.get("isexec")))
            for f in item.get("files", [])
        ]
        references = _references(item)
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        description = item.get("description")
        outputs.append(
            Output(
                item["name"],
                str(item.get("type") or ""),
                files,
                references,
                metadata,
                str(description) if isinstance(description, str) else None,
                [str(a) for a in item.get("aliases", []) or []],
                digest=item["digest"],
            )
        )
    inputs = [
        Input(
            item["name"],
            item["digest"],
            str(item["version"]) if isinstance(item.get("version"), str) else None,
            str(item["run"]) if isinstance(item.get("run"), str) else None,
        )
        for item in data.get("inputs", [])
    ]
    return Lineage(outputs, inputs)
