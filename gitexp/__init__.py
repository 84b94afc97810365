"""gitexp: a git-native experiment tracker with the wandb API.

``import gitexp as wandb`` and a wandb script records every run as a commit on
``refs/gitexp/runs/<id>``: code, config, metrics, output and environment.

Importing gitexp is cheap: git (dulwich) is only imported when a run starts, and DVC
only when artifacts move.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from gitexp._version import __version__
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:  # at run time each comes from __getattr__ below, on first use
    import os
    from collections.abc import Iterable

    from gitexp.sdk.api import Api
    from gitexp.sdk.artifact import Artifact
    from gitexp.sdk.histogram import Histogram
    from gitexp.sdk.run import Run
    from gitexp.sdk.session import finish, init
    from gitexp.sdk.session import finish as join
    from gitexp.sdk.session import finish as teardown
    from gitexp.sdk.surface import Settings, agent, sweep
    from gitexp.sdk.watch import unwatch, watch

    setup: Callable[..., Any]
    require: Callable[..., Any]
    link_model: Callable[..., Any]

__all__ = [
    "Api",
    "Artifact",
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "Run",
    "Settings",
    "Table",
    "Video",
    "__version__",
    "agent",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "join",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "login",
    "mark_preempting",
    "plot",
    "require",
    "run",
    "save",
    "setup",
    "summary",
    "sweep",
    "teardown",
    "unwatch",
    "use_artifact",
    "watch",
]

# Nothing of the SDK is imported by `import gitexp`: the `gitexp` command line lives in
# this package too, and recording a run needs none of it (issue 22: every module a
# command imports is start-up time).  Each name below is imported on first use and then
# kept as a module global, so later lookups cost what an eager import would.
_LAZY: dict[str, tuple[str, str]] = {
    "Api": ("gitexp.sdk.api", "Api"),  # the read API
    "Artifact": ("gitexp.sdk.artifact", "Artifact"),
    "Histogram": ("gitexp.sdk.histogram", "Histogram"),
    "Run": ("gitexp.sdk.run", "Run"),
    "Settings": ("gitexp.sdk.surface", "Settings"),
    "agent": ("gitexp.sdk.surface", "agent"),
    "finish": ("gitexp.sdk.session", "finish"),
    "init": ("gitexp.sdk.session", "init"),
    "join": ("gitexp.sdk.session", "finish"),  # wandb's older name for finish
    "sweep": ("gitexp.sdk.surface", "sweep"),
    "teardown": ("gitexp.sdk.session", "finish"),  # wandb's: end the run and its work
    "unwatch": ("gitexp.sdk.watch", "unwatch"),
    "watch": ("gitexp.sdk.watch", "watch"),
}
# wandb names that warn once and do nothing (sdk/surface.py says why for each).
_WARN_ONLY = {"setup": "wandb.setup", "require": "wandb.require", "link_model": "wandb.link_model"}
# The media names (gitexp/media/).
_MEDIA = frozenset({"Image", "Table", "Html", "Audio", "Video", "plot"})


def _load_current() -> Run | None:
    """The first call of ``_current`` imports the session and puts its ``current`` in
    its place: ``gitexp.log`` then pays one global lookup, as with an eager import."""
    global _current
    from gitexp.sdk.session import current

    _current = current
    return current()


_current: Callable[[], Run | None] = _load_current


def log(data: Mapping[str, object], step: int | None = None, commit: bool | None = None) -> None:
    """Log metrics for the current step: ``gitexp.log({"loss": 0.3, "acc": 0.9})``.

    Several calls with ``commit=False`` (or with the same explicit ``step``) merge into
    one row; values are numbers, strings, lists, numpy/torch scalars; nested dicts are
    flattened with ``/``.
    """
    active = _current()
    if active is None:
        from gitexp.sdk.session import AFTER_FINISH, ended, worker_without_run

        if worker_without_run():  # a spawned worker: warn, never stop the training
            return
        if ended():  # wandb raises here too: a dropped row would be a lost result
            raise RuntimeError(AFTER_FINISH.format(what="gitexp.log()"))
        raise RuntimeError("gitexp.log() needs a run: call gitexp.init() first")
    logger = active.recording_logger
    if logger is not None:
        logger.log(data, step, commit)  # the hot path: Run.log's checks are this None
    else:
        active.log(data, step, commit)


def define_metric(
    name: str,
    step_metric: str | None = None,
    *,
    goal: str | None = None,
    summary: str | None = None,
    hidden: bool | None = None,
    **kwargs: object,
) -> None:
    """Declare a metric's goal, summary and x-axis:
    ``gitexp.define_metric("val/*", step_metric="epoch", summary="best", goal="max")``.

    Recorded in the run; ``summary`` picks the value every reader shows (docs/api.md).
    """
    active = _current()
    if active is None:
        raise RuntimeError("gitexp.define_metric() needs a run: call gitexp.init() first")
    active.define_metric(name, step_metric, goal=goal, summary=summary, hidden=hidden, **kwargs)


def log_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: Iterable[str] | None = None,
    **kwargs: object,
) -> Artifact | None:
    """Keep an artifact: ``gitexp.log_artifact(artifact, aliases=["best"])`` for a
    ``gitexp.Artifact`` (a version other runs can use), or a path the script wrote
    (``gitexp.log_artifact("model.pt")``), kept in DVC's cache when the run ends.
    """
    active = _current()
    if active is None:
        raise RuntimeError("gitexp.log_artifact() needs a run: call gitexp.init() first")
    return active.log_artifact(artifact_or_path, name=name, type=type, aliases=aliases, **kwargs)


def use_artifact(artifact_or_name: str | Artifact, type: str | None = None) -> Artifact:
    """A logged version: ``gitexp.use_artifact("model:best").download()``.

    Inside a run, the run records that it used it; without one, this only looks it up.
    """
    active = _current()
    if active is not None:
        return active.use_artifact(artifact_or_name, type=type)
    from gitexp.sdk.lineagelog import RunLineage

    spec = str(getattr(artifact_or_name, "name", artifact_or_name))
    return RunLineage(None, None).use(spec, type, record=False)


def save(
    glob_str: str | os.PathLike[str], base_path: str | None = None, policy: str = "live"
) -> list[str]:
    """Keep files matching a glob with the run: ``gitexp.save("outputs/*.txt")``."""
    active = _current()
    if active is None:
        raise RuntimeError("gitexp.save() needs a run: call gitexp.init() first")
    return active.save(glob_str, base_path, policy)


def alert(
    title: str, text: str, level: object = "INFO", wait_duration: float | None = None
) -> None:
    """Record an alert in the run and print it; ``git config gitexp.alertCommand`` may
    forward it (docs/api.md)."""
    active = _current()
    if active is None:
        raise RuntimeError("gitexp.alert() needs a run: call gitexp.init() first")
    active.alert(title, text, level, wait_duration)


def log_model(
    path: str | os.PathLike[str], name: str | None = None, aliases: object = None, **kwargs: object
) -> None:
    """wandb's ``log_model``: ``run.log_model`` of the current run."""
    active = _current()
    if active is None:
        raise RuntimeError("gitexp.log_model() needs a run: call gitexp.init() first")
    active.log_model(path, name=name, aliases=aliases, **kwargs)


def mark_preempting() -> None:
    """The current run expects to be preempted (``run.mark_preempting``)."""
    active = _current()
    if active is not None:
        active.mark_preempting()


def login(*args: object, **kwargs: object) -> bool:
    """Kept for wandb scripts: gitexp needs no account, so this only says so."""
    print("gitexp: no login needed: runs are recorded in your git repository", file=sys.stderr)
    return True


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        if name != "sweep":  # gitexp.sweep becomes the sweep package once that is imported
            globals()[name] = value
        return value
    if name in _WARN_ONLY:
        from gitexp.sdk.surface import warn_only

        globals()[name] = function = warn_only(_WARN_ONLY[name])
        return function
    if name in _MEDIA:  # media classes and gitexp.plot: imported on first use, as Api
        from gitexp.media import audio_video, html, image, plots, table

        found: dict[str, object] = {"Image": image.Image, "Table": table.Table, "plot": plots}
        found.update(Html=html.Html, Audio=audio_video.Audio, Video=audio_video.Video)
        globals().update(found)  # later lookups skip this function
        return found[name]
    # wandb.config / wandb.summary / wandb.run follow the current run, as in wandb.
    if name in ("config", "summary", "run"):
        active = _current()
        if name == "run":
            return active
        if active is None:
            from gitexp.model.config import Config

            return Config() if name == "config" else {}
        return getattr(active, name)
    from gitexp.sdk.surface import NOT_APPLICABLE, not_applicable

    if f"wandb.{name}" in NOT_APPLICABLE:  # says why, and is still an AttributeError
        raise not_applicable(f"wandb.{name}")
    raise AttributeError(f"module 'gitexp' has no attribute {name!r}")
