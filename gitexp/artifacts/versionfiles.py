"""The files of an artifact version: into DVC's cache when logged, out of it on download.

Each file is one object of DVC's cache (``ArtifactStore.add``), named by its MD5 as DVC
names it, so ``gitexp push`` uploads it to the DVC remote with the run's other
artifacts and a plain ``dvc`` can fetch it.  A download checks every name again (a
teammate's manifest is input) and every hash (``ArtifactStore.checkout``).
"""

from __future__ import annotations

import os

from gitexp.artifacts import dvc as store_mod
from gitexp.artifacts.digest import Digest
from gitexp.errors import TransferError
from gitexp.model import validate
from gitexp.model.lineage import Output, VersionFile
from gitexp.render.words import plural


def store_files(root: str, sources: list[tuple[str, str]]) -> list[VersionFile]:
    """Copy each ``(name, path)`` into the DVC cache of the project at ``root``."""
    files: list[VersionFile] = []
    with store_mod.ArtifactStore(root) as store:
        for name, path in sources:
            digest = store.add(path)
            files.append(VersionFile(name, digest.md5, digest.size, digest.isexec))
    return files


def download(root: str, output: Output, dest: str, remote: str | None = None) -> str:
    """Write the version's files under ``dest`` (fetched from the DVC remote when the
    cache lacks them); returns ``dest``."""
    for item in output.files:
        problem = validate.check_path(item.name)
        if problem:
            raise TransferError(
                f"artifact {output.name} names an unsafe file: {problem}",
                "Its run is not one gitexp wrote; ask who pushed it.",
            )
    os.makedirs(dest, exist_ok=True)
    with store_mod.ArtifactStore(root) as store:
        wanted = {item.md5 for item in output.files}
        absent = wanted - store.in_cache(wanted)
        if absent:
            name = store.remote_name(remote)
            outcome = store.fetch(absent, name)
            lost = outcome.failed | outcome.missing
            if lost:
                raise TransferError(
                    f"{plural(len(lost), 'file')} of artifact {output.name} could not be "
                    f"fetched from DVC remote {name} "
                    f"({'; '.join(outcome.messages[:2]) or 'not there'})",
                    "Ask the run's author to `gitexp push` it, then try again.",
                )
        real_dest = os.path.realpath(dest)
        for item in output.files:
            target = os.path.join(real_dest, *item.name.split("/"))
            parent = os.path.realpath(os.path.dirname(target))
            if parent != real_dest and not parent.startswith(real_dest + os.sep):
                raise TransferError(
                    f"artifact {output.name}: {item.name} would be written through a link",
                    f"Remove the links inside {dest}, or download into an empty folder.",
                )
            if os.path.islink(target):
                os.unlink(target)
            store.checkout(Digest(item.md5, item.size, isexec=item.isexec), target)
    return dest
