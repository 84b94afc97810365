"""What a run keeps besides metrics: artifacts (paths and versions), the artifacts it
uses, saved files and alerts.  A mixin of ``Run`` (sdk/run.py), which owns the state."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.record.live import LiveDir
    from gitexp.sdk.alerts import Alerts
    from gitexp.sdk.artifact import Artifact
    from gitexp.sdk.lineagelog import RunLineage
    from gitexp.sdk.saving import Saver


class RunArtifacts:
    """``log_artifact``, ``use_artifact``, ``save`` and ``alert`` of a ``Run``."""

    id: str
    name: str
    _live: LiveDir | None
    _forked: bool
    _finished: bool
    _root: str | None
    _lineage_log: RunLineage | None
    _saver: Saver | None
    _alerts: Alerts | None

    @property
    def step(self) -> int:
        raise NotImplementedError

    def _warn_failure(self, message: str) -> None:
        raise NotImplementedError

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Iterable[str] | None = None,
        **kwargs: object,
    ) -> Artifact | None:
        """Keep an artifact: a ``gitexp.Artifact`` (a version, see sdk/artifact.py), or a
        file or folder the script wrote.

        A path's content when the run ends goes into the DVC cache (the repository needs
        a DVC project), a pointer into the run; ``gitexp push`` uploads it and ``gitexp
        restore`` brings it back (docs/sharing.md).  wandb's other arguments are ignored.
        """
        if self._live is None or self._forked or self._finished:
            return None
        from gitexp.sdk.artifact import Artifact

        if isinstance(artifact_or_path, Artifact):
            from gitexp.model.lineage import check_alias

            wanted = [str(alias) for alias in aliases or []]
            for alias in wanted:  # the script's mistake, said at once
                problem = check_alias(alias)
                if problem:
                    raise ValueError(problem)
            try:
                self._lineage().log(artifact_or_path, wanted)
            except Exception as exc:  # no DVC project, a full disk: never the training
                self._warn_failure(f"could not record artifact {artifact_or_path.name}: {exc}")
            return artifact_or_path
        path = os.path.abspath(os.fspath(artifact_or_path))
        if not os.path.exists(path):
            warnings.warn(
                f"gitexp: log_artifact: {path} does not exist yet; it is recorded if it "
                "exists when the run ends",
                stacklevel=2,
            )
        # DVC's thread pools register with threading's exit hooks when first imported,
        # which Python refuses once it is shutting down: a run finalized at interpreter
        # exit (no gitexp.finish()) would then lose its artifacts. Importing the pool
        # module now, while that is allowed, makes DVC's later import work.
        import concurrent.futures.thread  # noqa: F401

        from gitexp.model import values
        from gitexp.record.live import ARTIFACT_REQUESTS

        # One request per line, read by the recorder (artifacts/record.py).
        line = values.dumps({"path": path, "kind": "logged", "name": name, "type": type})
        try:
            with open(self._live.file(ARTIFACT_REQUESTS), "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            self._warn_failure(f"could not record artifact {path}: {exc}")
        return None

    def use_artifact(
        self, artifact_or_name: str | Artifact, type: str | None = None, **kwargs: object
    ) -> Artifact:
        """A logged version: ``"model"``, ``"model:v3"``, ``"model:best"`` (sdk/artifact.py).

        The run records that it used it (``.gitexp/lineage.json``).  An unknown name or
        version raises ``gitexp.errors.UnknownRunError`` naming the versions there are.
        """
        spec = getattr(artifact_or_name, "name", artifact_or_name)
        version = getattr(artifact_or_name, "version", None)
        if version and ":" not in str(spec):
            spec = f"{spec}:{version}"
        return self._lineage().use(str(spec), type, record=self._live is not None)

    def save(
        self, glob_str: str | os.PathLike[str], base_path: str | None = None, policy: str = "live"
    ) -> list[str]:
        """Keep the files matching ``glob_str`` with the run (sdk/saving.py); their names."""
        if self._live is None or self._forked or self._finished:
            return []
        if self._saver is None:
            from gitexp.sdk.saving import Saver

            self._saver = Saver(self._live, self.id, self._root)
        return self._saver.save(os.fspath(glob_str), base_path, policy)

    def alert(
        self, title: str, text: str, level: object = "INFO", wait_duration: float | None = None
    ) -> None:
        """Record an alert in the run, print it, and forward it (sdk/alerts.py)."""
        if self._forked:
            return
        if self._alerts is None:
            from gitexp.sdk.alerts import Alerts

            self._alerts = Alerts(self._live, self.id, self.name, self._root)
        try:
            self._alerts.alert(str(title), str(text), level, wait_duration, self.step)
        except ValueError:
            raise
        except OSError as exc:
            self._warn_failure(f"could not record the alert: {exc}")

    def _lineage(self) -> RunLineage:
        if self._lineage_log is None:
            from gitexp.sdk.lineagelog import RunLineage

            self._lineage_log = RunLineage(self._live, self._root)
        return self._lineage_log

    def _log_saved_large_files(self) -> None:
        if self._saver is None:
            return
        try:
            self._saver.flush(final=True)
            large = self._saver.large_files()
            if large is not None:
                self._lineage().log(large, [])
        except Exception as exc:
            self._warn_failure(f"could not keep the saved files: {exc}")
        finally:
            self._saver.cleanup()
