"""What ``import wandb`` gives under the shim: wandb's names, done by gitexp.

Libraries that call wandb (Lightning's ``WandbLogger``, the Hugging Face
``WandbCallback``, Accelerate's ``WandBTracker``) use more of it than a script does:
``wandb.run`` as an object with ``url`` and private hooks, ``wandb.Artifact`` filled
with files, ``termwarn``, ``require``, media classes.  This module holds those names;
``wandb_compat/`` lays them out as wandb's modules.  Whatever has no gitexp meaning
is accepted and does nothing, or is warned about once: a library's call must never
stop a training.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from gitexp.integrations.common import warn
from gitexp.sdk import session
from gitexp.sdk.run import Run as GitexpRun

# init() arguments of wandb that mean nothing to gitexp and that libraries pass on
# their own (Lightning: dir, anonymous): dropped without the warning gitexp.init gives.
_QUIET_DROPS = ("dir", "anonymous", "settings", "save_code", "magic", "monitor_gym", "force")


class RunDisabled:
    """wandb's class of a disabled run; gitexp's disabled runs are ordinary runs."""


class Run:
    """``wandb.run``: gitexp's run under wandb's name, with the attributes libraries use."""

    def __init__(self, run: GitexpRun, project: str | None = None) -> None:
        self._gitexp_run = run
        self._project = project

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gitexp_run, name)

    def __repr__(self) -> str:
        return f"<wandb shim of {self._gitexp_run!r}>"

    @property
    def url(self) -> str:
        """Where the run lives: its ref (there is no web page)."""
        return f"refs/gitexp/runs/{self._gitexp_run.id}"

    @property
    def project(self) -> str | None:
        """The project given to ``init`` (None: the recorder names it after the folder)."""
        return self._project

    @property
    def entity(self) -> None:
        return None

    def _label(self, *args: object, **kwargs: object) -> None:
        """wandb's telemetry label (transformers calls it): nothing to record."""

    def log(self, data: Mapping[str, object], step: int | None = None,
            commit: bool | None = None, **_wandb: object) -> None:  # fmt: skip
        self._gitexp_run.log(data, step, commit)

    def log_artifact(self, artifact: Any, name: str | None = None, type: str | None = None,
                     aliases: list[str] | None = None, **_wandb: object) -> Any:  # fmt: skip
        if isinstance(artifact, Artifact):
            for path in artifact.paths():
                self._gitexp_run.log_artifact(path, name=artifact.name, type=artifact.type)
        else:
            self._gitexp_run.log_artifact(artifact, name=name, type=type)
        return artifact

    def use_artifact(self, artifact: Any, type: str | None = None, **_wandb: object) -> Any:
        warn("the wandb shim cannot fetch artifacts from wandb's servers")
        return artifact

    def log_code(self, *args: object, **kwargs: object) -> None:
        """The run's commit already holds the code."""

    def watch(self, models: Any, *args: Any, **kwargs: Any) -> None:
        watch(models, *args, **kwargs)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        self._gitexp_run.finish(exit_code, quiet)


_runs: weakref.WeakKeyDictionary[GitexpRun, Run] = weakref.WeakKeyDictionary()


def wrap(run: GitexpRun | None, project: str | None = None) -> Run | None:
    """The one ``Run`` of a gitexp run (so ``wandb.run is wandb.run``)."""
    if run is None:
        return None
    if run not in _runs:
        _runs[run] = Run(run, project)
    return _runs[run]


def init(*args: Any, **kwargs: Any) -> Run:
    for name in _QUIET_DROPS:
        kwargs.pop(name, None)
    if kwargs.get("id") is None:
        kwargs.pop("id", None)
        if kwargs.get("resume") in ("allow", "auto", True):
            kwargs.pop("resume")  # nothing to resume without an id
    if os.environ.get("WANDB_MODE") == "disabled":
        kwargs.setdefault("mode", "disabled")
    project = kwargs.get("project")
    run = wrap(session.init(*args, **kwargs), project if isinstance(project, str) else None)
    assert run is not None
    return run


def current_run() -> Run | None:
    return wrap(session.current())


def log(data: Mapping[str, object], step: int | None = None, commit: bool | None = None,
        **_wandb: object) -> None:  # fmt: skip
    import gitexp

    gitexp.log(data, step, commit)


def log_artifact(artifact: Any, name: str | None = None, type: str | None = None,
                 aliases: list[str] | None = None, **_wandb: object) -> Any:  # fmt: skip
    run = current_run()
    if run is None:
        raise RuntimeError("wandb.log_artifact() needs a run: call wandb.init() first")
    return run.log_artifact(artifact, name=name, type=type, aliases=aliases)


def watch(models: Any, *args: Any, **kwargs: Any) -> None:
    import gitexp

    known = {k: v for k, v in kwargs.items() if k in ("criterion", "log", "log_freq", "idx")}
    gitexp.watch(models, *args[:3], **known)


def _term(prefix: str, message: object, repeat: bool = True, **_wandb: object) -> None:
    print(f"wandb (gitexp shim): {prefix}{message}", file=sys.stderr)


def termlog(message: object = "", repeat: bool = True, **kwargs: object) -> None:
    _term("", message, repeat)


def termwarn(message: object = "", repeat: bool = True, **kwargs: object) -> None:
    _term("WARNING ", message, repeat)


def termerror(message: object = "", repeat: bool = True, **kwargs: object) -> None:
    _term("ERROR ", message, repeat)


def save(glob_str: str | os.PathLike[str], *args: object, **kwargs: object) -> bool:
    """``wandb.save(path)``: the file becomes an artifact of the run (a pattern with
    ``*`` keeps the files that match it when called)."""
    import glob

    run = current_run()
    if run is None:
        raise RuntimeError("wandb.save() needs a run: call wandb.init() first")
    pattern = os.fspath(glob_str)
    pattern_like = any(mark in pattern for mark in "*?[")
    for path in sorted(glob.glob(pattern)) if pattern_like else [pattern]:
        run.log_artifact(path)
    return True


def alert(title: str = "", text: str = "", *args: object, **kwargs: object) -> None:
    """wandb's alerts go to a server; here they go to stderr."""
    _term("ALERT ", f"{title}: {text}")


class Settings:
    """``wandb.Settings(...)``: accepted, its values unused (gitexp has no service)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.__dict__.update(kwargs)


def require(*args: object, **kwargs: object) -> None:
    """wandb's feature switches (``require("service")``): gitexp has none to turn on."""


def setup(*args: object, **kwargs: object) -> None:
    """wandb's service start: gitexp starts nothing."""


class Artifact:
    """``wandb.Artifact``: files gathered here become artifacts of the run (via DVC).

    gitexp keeps artifacts that lie in the work tree, so what ``new_file`` writes goes
    where wandb itself writes, ``wandb/run-gitexp-<run id>/artifacts/<name>/`` under the
    current folder: a folder that later snapshots leave out as a tool's output.
    """

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict[str, Any] | None = None, **_wandb: object) -> None:  # fmt: skip
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self._paths: list[str] = []
        self._staging: str | None = None

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None,
                 **_wandb: object) -> None:  # fmt: skip
        self._add(os.path.abspath(os.fspath(local_path)))

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None,
                **_wandb: object) -> None:  # fmt: skip
        self._add(os.path.abspath(os.fspath(local_path)))

    def add_reference(self, uri: str, name: str | None = None, **_wandb: object) -> None:
        warn(f"the wandb shim keeps files, not references: {uri} is not recorded")

    @contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: str | None = None
                 ) -> Iterator[IO[Any]]:  # fmt: skip
        if self._staging is None:
            active = session.current()
            run_id = active.id if active is not None else "pending"
            safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.name)
            self._staging = os.path.abspath(
                os.path.join("wandb", f"run-gitexp-{run_id}", "artifacts", safe)
            )
            self._add(self._staging)
        path = os.path.join(self._staging, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode, encoding=encoding) as handle:
            yield handle

    def _add(self, path: str) -> None:
        if path not in self._paths:
            self._paths.append(path)

    def paths(self) -> list[str]:
        """The files and folders the artifact holds."""
        return list(self._paths)

    def save(self, *args: object, **kwargs: object) -> None:
        """Saved with the run when it ends."""

    def wait(self, *args: object, **kwargs: object) -> Artifact:
        return self


class Media:
    """wandb's media and table classes: accepted, not stored yet (gitexp warns, once per
    key, when one is logged, and drops it)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args


class Image(Media):
    pass


class Table(Media):
    pass


class Audio(Media):
    pass


class Video(Media):
    pass


class Html(Media):
    pass
