"""What a run logs and uses of versioned artifacts, kept in its live folder.

The run's ``lineage.json`` (model/lineage.py) is written whole into the live folder at
each ``log_artifact`` / ``use_artifact``; the recorder commits it under ``.gitexp/``
with the next checkpoint and at the end (record/recorder.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gitexp.model.lineage import Input, Lineage

if TYPE_CHECKING:
    from gitexp.record.live import LiveDir
    from gitexp.sdk.artifact import Artifact


def repo_root(start: str | None = None) -> str:
    """The work tree of the repository around ``start`` (the current folder)."""
    from gitexp.git.repo import GitRepo

    with GitRepo.discover(start or os.getcwd()) as repo:
        return repo.root


class RunLineage:
    """The run's outputs and inputs, as its lineage.json will hold them."""

    def __init__(self, live: LiveDir | None, root: str | None) -> None:
        self.live = live
        self._root = root
        self.lineage = Lineage()
        if live is not None:  # a resumed run goes on with what its earlier life kept
            from gitexp.model.lineage import LINEAGE_FILE, parse_lineage

            try:
                with open(live.file(LINEAGE_FILE), encoding="utf-8") as handle:
                    self.lineage = parse_lineage(handle.read())
            except (OSError, ValueError):
                pass

    @property
    def root(self) -> str:
        if self._root is None:
            self._root = repo_root()
        return self._root

    def log(self, artifact: Artifact, aliases: list[str]) -> None:
        output = artifact.record(self.root, aliases)
        known = {(item.name, item.digest) for item in self.lineage.outputs}
        if (output.name, output.digest) not in known:
            self.lineage.outputs.append(output)
        self._write()

    def use(self, spec: str, type: str | None, record: bool) -> Artifact:
        from gitexp.artifacts.catalog import Catalog
        from gitexp.git.repo import GitRepo
        from gitexp.sdk.artifact import Artifact

        with GitRepo.discover(self.root) as repo:
            version = Catalog(repo).resolve(spec, type)
        used = Input(
            version.name,
            version.digest,
            version.label,
            version.producer.id if version.producer else None,
        )
        if record and used not in self.lineage.inputs:
            self.lineage.inputs.append(used)
            self._write()
        return Artifact.from_version(self.root, version)

    def _write(self) -> None:
        if self.live is None:
            return
        from gitexp.model.lineage import LINEAGE_FILE

        path = self.live.file(LINEAGE_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(self.lineage.to_json())
        os.replace(tmp, path)  # the recorder never reads half a file
