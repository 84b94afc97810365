"""``gitexp.Artifact``: a versioned set of files a run logs and other runs use (wandb-shaped).

A script builds one (``add_file``, ``add_dir``, ``add_reference``, ``new_file``) and
logs it with ``run.log_artifact(artifact, aliases=[...])``: the files go into DVC's cache
then, and the run's ``.gitexp/lineage.json`` names them (model/lineage.py).  A later run
gets a version with ``run.use_artifact("model:best")``; ``download()`` writes its files
into a folder and ``file()`` returns the path of its one file.  DVC and git are imported
only by these calls, never by ``import gitexp``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitexp.artifacts.catalog import Version
    from gitexp.model.lineage import Output


class Artifact:
    """A named, typed set of files (and references), logged as one version."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        from gitexp.model.lineage import check_name

        problem = check_name(name)
        if problem:
            raise ValueError(problem)
        self.name = name
        self.type = str(type)
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._sources: dict[str, str] = {}  # name in the artifact -> file on disk
        self._references: list[dict[str, str]] = []
        self._staging: str | None = None
        # Set once logged or fetched: the recorded version, and where it lives.
        self._output: Output | None = None
        self._version: str | None = None
        self._producer: str | None = None
        self._root: str | None = None
        self.aliases: list[str] = []

    # -- building --------------------------------------------------------------------

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add one file, named ``name`` in the artifact (default: its file name)."""
        path = os.path.abspath(os.fspath(local_path))
        if not os.path.isfile(path):  # a warning: a typo must not cost the trained model
            _missing("add_file", path, "a file", self.name)
            return
        self._add(name or os.path.basename(path), path)

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add every file under a folder, named by their paths inside it (under ``name``)."""
        top = os.path.abspath(os.fspath(local_path))
        if not os.path.isdir(top):
            _missing("add_dir", top, "a folder", self.name)
            return
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for file_name in sorted(files):
                path = os.path.join(folder, file_name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue  # a link may point anywhere: its target is not the folder's
                rel = os.path.relpath(path, top).replace(os.sep, "/")
                self._add(f"{name.strip('/')}/{rel}" if name else rel, path)

    def add_reference(self, uri: str, name: str | None = None) -> None:
        """Record a URI (``s3://...``, ``https://...``) as part of the version; never fetched."""
        text = str(uri)
        self._references.append({"uri": text, "name": name or text.rstrip("/").rsplit("/")[-1]})

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "w", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file of the artifact: ``with artifact.new_file("labels.txt") as f:``."""
        from gitexp.model import validate

        problem = validate.check_path(name)
        if problem:
            raise ValueError(f"Artifact.new_file: {problem}")
        if self._staging is None:
            self._staging = tempfile.mkdtemp(prefix="gitexp-artifact-")
        path = os.path.join(self._staging, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if "b" not in mode and encoding is None:
            encoding = "utf-8"
        with open(path, mode, encoding=encoding) as handle:
            yield handle
        self._add(name, path)

    def _add(self, name: str, path: str) -> None:
        from gitexp.model import validate

        problem = validate.check_path(name)
        if problem:
            raise ValueError(f"Artifact {self.name}: {problem}")
        if self._output is not None:
            raise ValueError(f"Artifact {self.name} is logged already: build a new one")
        self._sources[name] = path

    # -- what a logged or used artifact tells ----------------------------------------

    @property
    def version(self) -> str | None:
        """``vN`` of a used artifact (as numbered when it was fetched); None otherwise."""
        return self._version

    @property
    def digest(self) -> str | None:
        return self._output.digest if self._output else None

    @property
    def producer_run(self) -> str | None:
        """The id of the run that logged this version (of a used artifact)."""
        return self._producer

    @property
    def files_list(self) -> list[str]:
        if self._output is not None:
            return [item.name for item in self._output.files]
        return sorted(self._sources)

    @property
    def references(self) -> list[dict[str, str]]:
        return list(self._output.references if self._output else self._references)

    def download(self, root: str | os.PathLike[str] | None = None) -> str:
        """Write the version's files into ``root`` (default ``artifacts/<name>-<vN>``)."""
        if self._output is None or self._root is None:
            raise ValueError(
                f"Artifact {self.name} is not a recorded version: get one with use_artifact()"
            )
        from gitexp.artifacts.versionfiles import download

        dest = (
            os.fspath(root)
            if root is not None
            else os.path.join("artifacts", self._default_folder())
        )
        return download(self._root, self._output, os.path.abspath(dest))

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download and return the path of the version's one file."""
        names = self.files_list
        if len(names) != 1:
            raise ValueError(
                f"Artifact {self.name} holds {len(names)} files; file() needs exactly one: "
                "use download() and pick the file"
            )
        return os.path.join(self.download(root), *names[0].split("/"))

    def _default_folder(self) -> str:
        return f"{self.name}-{self._version or (self.digest or '')[:12]}"

    def __repr__(self) -> str:
        shown = self._version or "(not logged)"
        return f"<gitexp.Artifact {self.name}:{shown} type={self.type}>"

    # -- what sdk/run.py drives --------------------------------------------------------

    def record(self, root: str, aliases: list[str]) -> Output:
        """Store the files in DVC's cache (the project at ``root``); the version logged."""
        from gitexp.artifacts.versionfiles import store_files
        from gitexp.model.lineage import Output, check_alias

        for alias in aliases:
            problem = check_alias(alias)
            if problem:
                raise ValueError(problem)
        if self._output is not None:
            return self._output
        if not self._sources and not self._references:
            warnings.warn(f"gitexp: artifact {self.name} is empty", stacklevel=4)
        files = store_files(root, sorted(self._sources.items()))
        self._output = Output(
            self.name,
            self.type,
            files,
            self._references,
            self.metadata,
            self.description,
            list(aliases),
        )
        self.aliases = list(aliases)
        self._root = root
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        return self._output

    @classmethod
    def from_version(cls, root: str, version: Version) -> Artifact:
        output = version.output
        artifact = cls(output.name, output.type, output.description, output.metadata)
        artifact._output = output
        artifact._version = version.label
        artifact._root = root
        artifact._producer = version.producer.id if version.producer else None
        artifact.aliases = list(version.aliases)
        return artifact


def _missing(method: str, path: str, what: str, name: str) -> None:
    warnings.warn(
        f"gitexp: Artifact.{method}: {path} is not {what}: left out of artifact {name} "
        "(training goes on)",
        stacklevel=3,
    )
