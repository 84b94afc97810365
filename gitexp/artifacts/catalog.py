"""Every artifact version the runs of this clone know, numbered from the runs.

A version is a digest (model/lineage.py).  Its number ``vN`` is its place among the
versions of its name, ordered by the start of the first run that logged it (then by run
id, then by digest): the numbers are computed on each read, never stored, so clones that
know the same runs number them alike, and a clone that learns of an older run sees the
numbers after it shift (docs/format.md, "Lineage").

An alias resolves to its ref (artifacts/aliases.py) when the registry has one; else to
the newest version whose run asked for it (``log_artifact(..., aliases=["best"])``).
"""

from __future__ import annotations

import contextlib
import os
import sys

from gitexp.artifacts.aliases import AliasMove, current_aliases
from gitexp.errors import UnknownRunError
from gitexp.git import catfile
from gitexp.git.repo import GitRepo
from gitexp.model import values
from gitexp.model.lineage import (
    LATEST,
    LINEAGE_FILE,
    VERSION_PATTERN,
    Input,
    Lineage,
    Output,
    parse_lineage,
)
from gitexp.model.record import META_DIR
from gitexp.read.listing import RunEntry, list_runs

CACHE_NAME = "lineages.tsv"


def lineage_texts(repo: GitRepo, commits: list[bytes]) -> dict[bytes, str]:
    """``.gitexp/lineage.json`` of each commit that has one, cached by commit id.

    Commits are immutable, so ``<git common dir>/gitexp/cache/lineages.tsv`` (one line
    per run commit: ``<commit>\t-`` for none, else ``<commit>\tj\t<the text as a JSON
    string>``) is always valid: git is asked only about commits not seen before.
    Looking up a path in 2,000 commits costs git ~0.4 s; the cache, a tenth of that.
    """
    path = os.path.join(repo.commondir, "gitexp", "cache", CACHE_NAME)
    cached: dict[bytes, str | None] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle.read().split("\n"):
                parts = line.split("\t", 2)
                if len(parts) == 2 and parts[1] == "-":
                    cached[parts[0].encode()] = None
                elif len(parts) == 3 and parts[1] == "j":
                    with contextlib.suppress(ValueError):
                        cached[parts[0].encode()] = str(values.loads(parts[2]))
    except OSError:
        pass
    missing = [commit for commit in commits if commit not in cached]
    if missing:
        names = [f"{commit.decode()}:{META_DIR}/{LINEAGE_FILE}" for commit in missing]
        for commit, obj in zip(missing, catfile.read_objects(repo.root, names), strict=True):
            text = None
            if obj is not None and obj[0] == "blob":
                text = obj[1].decode("utf-8", "replace")
            cached[commit] = text
        lines = []
        for commit in commits:  # the runs of now: removed runs leave the cache
            text = cached[commit]
            lines.append(
                f"{commit.decode()}\t-"
                if text is None
                else f"{commit.decode()}\tj\t{values.dumps(text)}"
            )
        _save(path, "\n".join(lines) + "\n")
    return {commit: text for commit in commits if (text := cached.get(commit)) is not None}


def _save(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs speed


class Version:
    """One version of an artifact name, with its producers and consumers."""

    __slots__ = ("aliases", "consumers", "number", "output", "producers", "start")

    def __init__(self, output: Output, start: float) -> None:
        self.output = output
        self.number = 0
        self.start = start
        self.producers: list[RunEntry] = []
        self.consumers: list[RunEntry] = []
        self.aliases: list[str] = []

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def digest(self) -> str:
        return self.output.digest

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def producer(self) -> RunEntry | None:
        return self.producers[0] if self.producers else None


class Catalog:
    """The versions of every artifact name, their aliases, and who used them."""

    def __init__(self, repo: GitRepo, warn: bool = True) -> None:
        self.repo = repo
        self.lineages: dict[str, tuple[RunEntry, Lineage]] = {}
        self.versions: dict[str, list[Version]] = {}
        self.moves: dict[tuple[str, str], AliasMove] = current_aliases(repo, warn)
        self._load(warn)

    def _load(self, warn: bool) -> None:
        entries = [entry for entry in list_runs(self.repo) if entry.problem is None]
        found = lineage_texts(self.repo, [entry.commit for entry in entries])
        by_digest: dict[tuple[str, str], Version] = {}
        for entry in entries:
            text = found.get(entry.commit)
            if text is None:
                continue
            try:
                lineage = parse_lineage(text)
            except (ValueError, UnicodeDecodeError) as exc:
                if warn:
                    print(f"gitexp: warning: run {entry.id}: {exc}: ignored", file=sys.stderr)
                continue
            self.lineages[entry.id] = (entry, lineage)
            for output in lineage.outputs:
                key = (output.name, output.digest)
                version = by_digest.get(key)
                if version is None:
                    version = by_digest[key] = Version(output, entry.start)
                version.producers.append(entry)
        for version in by_digest.values():
            version.producers.sort(key=lambda run: (run.start, run.id))
            first = version.producers[0]
            version.start = first.start
        for version in by_digest.values():
            self.versions.setdefault(version.name, []).append(version)
        for listed in self.versions.values():
            listed.sort(key=lambda v: (v.start, v.producers[0].id, v.digest))
            for number, version in enumerate(listed):
                version.number = number
        for entry, lineage in self.lineages.values():
            for used in lineage.inputs:
                version = by_digest.get((used.name, used.digest))
                if version is not None:
                    version.consumers.append(entry)
        self._place_aliases()

    def _place_aliases(self) -> None:
        for name, listed in self.versions.items():
            declared: dict[str, Version] = {}
            for version in listed:  # oldest first: the newest that asked for an alias wins
                for producer in version.producers:
                    for output in self.lineages[producer.id][1].outputs:
                        if output.name == name and output.digest == version.digest:
                            declared.update(dict.fromkeys(output.aliases, version))
            for (alias_name, alias), move in self.moves.items():
                if alias_name == name:
                    target = self.by_digest(name, move.digest)
                    if target is not None:
                        declared[alias] = target
                    else:
                        declared.pop(alias, None)
            for alias, version in declared.items():
                version.aliases.append(alias)
            if listed:
                listed[-1].aliases.insert(0, LATEST)

    def by_digest(self, name: str, digest: str) -> Version | None:
        return next((v for v in self.versions.get(name, []) if v.digest == digest), None)

    def resolve(self, spec: str, type: str | None = None) -> Version:
        """The version ``name[:latest|vN|alias|digest-prefix]`` names (``latest`` by default)."""
        name, _, which = spec.partition(":")
        which = which or LATEST
        listed = self.versions.get(name)
        if not listed:
            known = ", ".join(sorted(self.versions)[:10]) or "none yet"
            raise UnknownRunError(
                f"no artifact named {name!r} in this clone's runs (known: {known})",
                "Check the name (`gitexp artifacts` lists them), or `gitexp pull` the runs "
                "that logged it.",
            )
        found: Version | None = None
        number = VERSION_PATTERN.match(which)
        if which == LATEST:
            found = listed[-1]
        elif number:
            index = int(number.group(1))
            found = listed[index] if index < len(listed) else None
        else:
            found = next((v for v in listed if which in v.aliases), None)
            if found is None and len(which) >= 8:
                matches = [v for v in listed if v.digest.startswith(which)]
                found = matches[0] if len(matches) == 1 else None
        if found is None:
            shown = ", ".join(
                f"{v.label}" + (f" ({', '.join(v.aliases)})" if v.aliases else "") for v in listed
            )
            raise UnknownRunError(
                f"artifact {name!r} has no version {which!r} (it has {shown})",
                "Name one of these versions or aliases (`gitexp artifacts " + name + "`).",
            )
        if type is not None and found.output.type != type:
            raise UnknownRunError(
                f"artifact {name}:{which} is of type {found.output.type!r}, not {type!r}",
                "Pass the type it was logged with, or none.",
            )
        return found

    def run_inputs(self, run_id: str) -> list[tuple[Input, Version | None]]:
        found = self.lineages.get(run_id)
        if found is None:
            return []
        return [(used, self.by_digest(used.name, used.digest)) for used in found[1].inputs]

    def run_outputs(self, run_id: str) -> list[tuple[Output, Version | None]]:
        found = self.lineages.get(run_id)
        if found is None:
            return []
        return [(out, self.by_digest(out.name, out.digest)) for out in found[1].outputs]

    def run_lineage(self, run_id: str) -> dict[str, list[dict[str, object]]]:
        """What a run used and logged, with the runs on the other side (``gitexp show``)."""
        inputs: list[dict[str, object]] = [
            {
                "name": used.name,
                "version": version.label if version else used.version,
                "digest": used.digest,
                "logged_by": [run.id for run in version.producers] if version else [used.run],
            }
            for used, version in self.run_inputs(run_id)
        ]
        outputs: list[dict[str, object]] = [
            {
                "name": out.name,
                "version": version.label if version else None,
                "digest": out.digest,
                "aliases": version.aliases if version else out.aliases,
                "files": len(out.files),
                "used_by": [run.id for run in version.consumers] if version else [],
            }
            for out, version in self.run_outputs(run_id)
        ]
        return {"inputs": inputs, "outputs": outputs}
