"""The rest of wandb's ``Run`` surface, and the wandb names gitexp answers with a warning.

A wandb script reaches for more than ``log`` and ``config``: ``run.dir``, ``run.url``,
``run.tags = [...]``, ``wandb.setup()``.  Each public name of a pinned wandb
(tests/data/wandb_names.txt) either works here, or warns once and does nothing (the
tables :data:`WARN_ONLY` below: a script keeps training), or is not applicable and raises
``AttributeError`` with the reason (:data:`NOT_APPLICABLE`).  Nothing else is answered:
no catch-all, so a typo still fails and ``hasattr`` still tells the truth.
docs/api.md#compatibility-with-wandb lists every name with its status.

Only ``warnings`` is imported here: ``import gitexp`` stays cheap.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from gitexp.model.config import Config
    from gitexp.record.live import LiveDir
    from gitexp.record.recorder import Recorder
    from gitexp.sdk.artifact import Artifact

# What gitexp does for wandb's server-side features: nothing, with one warning each,
# naming the name and why (the script goes on: a dashboard feature is no reason to stop).
WARN_ONLY: dict[str, str] = {
    "wandb.setup": "there is no service process to set up",
    "wandb.require": "wandb's feature flags have no meaning here",
    "wandb.sweep": "sweeps are `gitexp sweep` (docs/workflow.md); the id it returns only "
    "lets wandb.agent run the function once",
    "wandb.agent": "no parameters are chosen: the function runs once with the script's own "
    "config; search parameters with `gitexp sweep`, or on several machines with "
    "`gitexp agent SWEEP` around the script",
    "wandb.link_model": "the model registry is `gitexp artifacts alias` (issue 18, part 3)",
    "run.link_model": "the model registry is `gitexp artifacts alias` (issue 18, part 3)",
    "run.link_artifact": "the model registry is `gitexp artifacts alias` (issue 18, part 3)",
    "run.display": "there is no hosted run page to embed; `gitexp ui` shows runs",
    "run.to_html": "there is no hosted run page to embed; `gitexp ui` shows runs",
    "run.pin_config_keys": "pinning is a wandb dashboard setting",
}

# Names that cannot mean anything without wandb's server: AttributeError, with the reason.
NOT_APPLICABLE: dict[str, str] = {
    "wandb.ArtifactTTL": "artifacts live as long as their run refs and DVC cache",
    "wandb.EvalTable": "Weave evaluation tables live on wandb's server",
    "wandb.Graph": "wandb's model-graph panel has no counterpart in gitexp",
    "wandb.Molecule": "gitexp has no molecule viewer",
    "wandb.Object3D": "gitexp has no 3-D viewer",
    "wandb.box3d": "gitexp has no 3-D viewer",
    "wandb.Plotly": "log a figure as gitexp.Html or draw it with gitexp.plot.*",
    "wandb.controller": "sweeps are run by `gitexp sweep`, not by a server's controller",
    "wandb.plot_table": "wandb's Vega presets live on its server; use gitexp.plot.*",
    "wandb.use_model": "use run.use_artifact(name).download() (issue 18, part 3)",
    "run.use_model": "use run.use_artifact(name).download() (issue 18, part 3)",
    "run.restore": "`gitexp restore RUN` brings a run's files back",
    "run.upsert_artifact": "artifacts assembled by several processes on wandb's server; "
    "log_artifact from one process",
    "run.finish_artifact": "artifacts assembled by several processes on wandb's server; "
    "log_artifact from one process",
    "run.status": "wandb's sync state with its server; a gitexp run is recorded locally",
}

_warned: set[str] = set()


def warn_once(name: str) -> None:
    """Say once per process that ``name`` does nothing here, and why."""
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(
        f"gitexp: {name}() does nothing in gitexp: {WARN_ONLY[name]}", UserWarning, stacklevel=3
    )


def warn_only(name: str, result: object = None) -> Callable[..., Any]:
    """A function for ``name`` (``wandb.X`` in WARN_ONLY) that warns once and returns
    ``result``."""
    if name not in WARN_ONLY:
        raise KeyError(name)

    def call(*args: object, **kwargs: object) -> Any:
        warn_once(name)
        return result

    call.__name__ = name.rsplit(".", 1)[-1]
    call.__doc__ = f"Warns once and does nothing: {WARN_ONLY[name]}."
    return call


def not_applicable(name: str) -> AttributeError:
    """The AttributeError for a name of NOT_APPLICABLE: the usual message, plus why."""
    owner, attr = name.split(".", 1)
    what = "module 'gitexp'" if owner == "wandb" else "'Run' object"
    return AttributeError(f"{what} has no attribute {attr!r}: {NOT_APPLICABLE[name]}")


def sweep(*args: object, **kwargs: object) -> str:
    """wandb.sweep: warns once; returns an id that :func:`agent` accepts."""
    warn_once("wandb.sweep")
    return "gitexp-no-sweep"


# The trial gitexp.agent runs now ({"group", "name", "values": [(dotted key, value)]}):
# the next init() takes it (sdk/session.py).  Emptied between trials.
AGENT_TRIAL: dict[str, Any] = {}


def agent(
    sweep_id: object = None,
    function: Callable[[], object] | None = None,
    *args: object,
    **kwargs: object,
) -> None:
    """wandb.agent: with a sweep of this repository (``gitexp sweep --create``), runs
    ``function`` once per trial it claims through the git remote, as ``gitexp agent``
    does (sweep/agent.py); with wandb.sweep's id, warns once and runs it once."""
    if function is not None and isinstance(sweep_id, str) and sweep_id != "gitexp-no-sweep":
        from gitexp.sweep.agent import run_in_script

        count = kwargs.get("count", args[2] if len(args) > 2 else None)
        run_in_script(sweep_id, function, count if isinstance(count, int) else None)
        return
    warn_once("wandb.agent")
    if function is not None:
        function()


class Settings:
    """wandb.Settings: the keyword arguments as attributes, kept as ``run.settings``.

    gitexp reads ``mode`` and ``project`` (as init's own arguments), and ``push`` and
    ``push_every`` (the run pushed while it trains: share/livepush.py)."""

    def __init__(self, **kwargs: object) -> None:
        self.__dict__.update(kwargs)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"Settings({self.__dict__!r})"


def settings_of(value: object) -> Settings:
    """``init(settings=...)`` as a Settings: one, a dict, or an object with attributes."""
    if isinstance(value, Settings):
        return value
    if isinstance(value, Mapping):
        return Settings(**{str(k): v for k, v in value.items()})
    if value is None:
        return Settings()
    return Settings(**{k: v for k, v in vars(value).items() if not k.startswith("_")})


_MODES = ("online", "offline", "shared", "dryrun", "run", "disabled")
_REINIT = {"finish_previous": True, "create_new": True, "return_previous": False, "default": None}


def init_choices(
    settings: Settings,
    mode: str | None,
    project: str | None,
    reinit: bool | str | None,
    save_code: bool | None,
) -> tuple[str | None, str | None, bool | None]:
    """init's ``mode``, ``project`` and ``reinit`` (also from ``settings``), with a warning
    for the arguments gitexp cannot honour; the training goes on either way."""
    mode = mode if mode is not None else getattr(settings, "mode", None)
    project = project if project is not None else getattr(settings, "project", None)
    if mode is not None and mode not in _MODES:
        warnings.warn(
            f"gitexp: init(mode={mode!r}) is not a wandb mode; recording as usual "
            "(mode='disabled' records nothing)",
            stacklevel=3,
        )
    if isinstance(reinit, str):
        reinit = _REINIT.get(reinit)
    if save_code is False:
        warnings.warn(
            "gitexp: init(save_code=False) is ignored: every run records its code, which is "
            "what lets `gitexp rerun` reproduce it (leave files out with .gitexpignore)",
            stacklevel=3,
        )
    return mode, project if isinstance(project, str) else None, reinit


# The run.json fields a script may set on the run after init, as wandb allows.
RUN_FIELDS = ("name", "tags", "notes", "group", "job_type")


class RunSurface:
    """Mixin of ``Run``: wandb's attributes beyond logging (docs/api.md).

    ``Run`` sets ``id``, ``config``, ``mode``, ``_live``, ``_recorder``, ``_start`` and
    ``_script``; ``session.init`` calls :meth:`set_surface` once the run exists, after
    which setting a field records it in run.json."""

    id: str
    mode: str
    config: Config
    resumed: bool
    _live: LiveDir | None
    _recorder: Recorder | None
    _start: float
    _script: dict[str, Any]
    _finished: bool
    _forked: bool
    _fields: dict[str, Any]
    _ready = False
    _fixed: frozenset[str] = frozenset()
    if TYPE_CHECKING:  # Run's own methods, which this mixin's calls reach

        def write_script_json(self) -> None: ...
        @property
        def step(self) -> int: ...
        def log_artifact(
            self,
            artifact_or_path: Artifact | str | os.PathLike[str],
            name: str | None = ...,
            type: str | None = ...,
            aliases: Iterable[str] | None = ...,
            **kwargs: object,
        ) -> Artifact | None: ...

    _project: str | None = None
    _entity: str | None = None
    _dir: str | None = None
    _settings: Settings | None = None
    _starting_step = 0
    sweep_id: str | None = None
    sweep_url: str | None = None

    def set_surface(
        self, fields: Mapping[str, Any], entity: object, settings: Settings | None
    ) -> None:
        """The fields as recorded (a resumed run's, the wrapper's ``--tag``...), else as
        init was given them; from now on setting one records it."""
        keys = (*RUN_FIELDS, "project")
        known: Mapping[str, Any] = {}
        fixed: list[str] = []
        if self._recorder is not None:
            known = {k: getattr(self._recorder.info, k) for k in keys}
        elif self._live is not None:  # under `gitexp run`: what its command line set wins
            known = self._live.read_json("run.json") or {}
            fixed = list((self._live.read_json("state.json") or {}).get("cli_fields") or ())
        for key in keys:
            given = None if key in fixed else fields.get(key)
            self._fields[key] = given if given is not None else known.get(key)
        self._project = self._fields.pop("project")
        self._entity = entity if isinstance(entity, str) else None
        self._settings = settings
        self._starting_step = self.step
        self._fixed = frozenset(fixed)
        self._ready = True

    # -- run.json fields, settable as in wandb --------------------------------------------

    @property
    def name(self) -> str:
        return str(self._fields.get("name") or "")

    @name.setter
    def name(self, value: str) -> None:
        self._set_field("name", str(value))

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._fields.get("tags") or ())

    @tags.setter
    def tags(self, value: Iterable[str]) -> None:
        self._set_field("tags", [str(tag) for tag in value])

    @property
    def notes(self) -> str | None:
        return self._fields.get("notes")

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._set_field("notes", None if value is None else str(value))

    @property
    def group(self) -> str | None:
        return self._fields.get("group")

    @group.setter
    def group(self, value: str | None) -> None:
        self._set_field("group", None if value is None else str(value))

    @property
    def job_type(self) -> str | None:
        return self._fields.get("job_type")

    @job_type.setter
    def job_type(self, value: str | None) -> None:
        self._set_field("job_type", None if value is None else str(value))

    def _set_field(self, key: str, value: object) -> None:
        if "_fields" not in self.__dict__:
            self._fields = {}
        if key in self._fixed:
            return  # `gitexp run --tag ...` set it: the script's value is not recorded either
        self._fields[key] = value
        if not self._ready or self._live is None or self._forked or self._finished:
            return
        if self._recorder is not None:  # this process records: straight into run.json
            from gitexp.model import redact

            if isinstance(value, str):
                value = redact.scrub_text(value)
            elif isinstance(value, list):
                value = [redact.scrub_text(v) for v in value]
            setattr(self._recorder.info, key, value)
        else:  # under `gitexp run`: the wrapper takes script.json's fields
            self._script[key] = value
            self.write_script_json()

    # -- where the run is ----------------------------------------------------------------

    @property
    def project(self) -> str | None:
        """The project named at init, else the repository's default project."""
        if self._project is None and self.mode != "disabled":
            self._project = self._default_project()
        return self._project

    def _default_project(self) -> str | None:
        try:
            from gitexp.git.repo import GitRepo
            from gitexp.read.projects import default_project

            if self._recorder is not None:
                return default_project(self._recorder.repo)
            with GitRepo.discover() as repo:
                return default_project(repo)
        except Exception:  # a property never stops the training
            return None

    @property
    def entity(self) -> str | None:
        """As given to init: gitexp has no accounts."""
        return self._entity

    @property
    def path(self) -> str:
        """``entity/project/id`` as wandb writes it (``project/id`` without an entity)."""
        return "/".join(p for p in (self._entity, self.project, self.id) if p)

    @property
    def dir(self) -> str:
        """A folder for the script's files; what is in it when the run ends (and at each
        checkpoint) is kept in the run's commit under ``.gitexp/files/``."""
        if self._dir is None:
            if self._live is not None and not self._forked:
                from gitexp.record.live import RUN_FILES

                path = self._live.file(RUN_FILES)
            else:  # a disabled run keeps nothing, but the folder is real
                import tempfile

                path = tempfile.mkdtemp(prefix="gitexp-disabled-run-")
            os.makedirs(path, exist_ok=True)
            self._dir = path
        return self._dir

    @property
    def sync_dir(self) -> str:
        return os.path.dirname(self.dir)

    @property
    def url(self) -> str:
        """Where ``gitexp ui`` (on its default port) shows this run, while it runs."""
        from gitexp.render.server import DEFAULT_PORT

        return f"http://127.0.0.1:{DEFAULT_PORT}/#runs={self.id}"

    @property
    def project_url(self) -> str:
        from gitexp.render.server import DEFAULT_PORT

        return f"http://127.0.0.1:{DEFAULT_PORT}/"

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    @property
    def offline(self) -> bool:
        """Always True: gitexp never talks to a server."""
        return True

    @property
    def start_time(self) -> float:
        return self._start

    @property
    def starting_step(self) -> int:
        return self._starting_step

    @property
    def config_static(self) -> Config:
        return self.config

    # -- calls ---------------------------------------------------------------------------

    def mark_preempting(self) -> None:
        """Record that the run expects to be preempted: run.json ``extra.preempting``."""
        self._script.setdefault("extra", {})["preempting"] = True
        self.write_script_json()

    def watch(self, models: Any, *args: Any, **kwargs: Any) -> None:
        from gitexp.sdk.watch import watch

        watch(models, *args, **kwargs)

    def unwatch(self, models: Any = None) -> None:
        from gitexp.sdk.watch import unwatch

        unwatch(models)

    def log_code(self, *args: object, **kwargs: object) -> None:
        """Nothing to do: every run records its code (the workspace snapshot)."""

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: object = None,
        **kwargs: object,
    ) -> None:
        """``log_artifact(path, name=name, type="model", aliases=aliases)``."""
        wanted = [str(a) for a in aliases] if isinstance(aliases, (list, tuple)) else None
        self.log_artifact(path, name=name, type="model", aliases=wanted)

    def write_logs(self, text: str) -> None:
        """Into the run's output, as wandb's Logs tab shows it."""
        print(text, file=sys.stderr)

    display = warn_only("run.display", result=False)
    to_html = warn_only("run.to_html", result="")
    pin_config_keys = warn_only("run.pin_config_keys")
    link_model = warn_only("run.link_model")
    link_artifact = warn_only("run.link_artifact")

    if not TYPE_CHECKING:  # the type checker keeps seeing every other name as missing

        def __getattr__(self, name: str) -> Any:
            # Only for names Run lacks: a wandb name that cannot apply says why.
            if f"run.{name}" in NOT_APPLICABLE:
                raise not_applicable(f"run.{name}")
            raise AttributeError(f"'Run' object has no attribute {name!r}")
