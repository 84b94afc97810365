"""``gitexp.init`` and the process-wide current run behind ``gitexp.log`` and friends."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from collections.abc import Mapping
from types import TracebackType

from gitexp.model.config import Config, deep_merge, load_config_file, plain
from gitexp.record.envvars import ENV_ALL_RANKS, ENV_CONFIG, ENV_LIVE_DIR, ENV_RUN_ID
from gitexp.sdk import ranks
from gitexp.sdk.run import DISABLED, JOINED, SCRIPT, Run
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# wandb arguments kept in the run record as given (JSON-able values only).
# sync_tensorboard: the recorder reads the run's event files when it ends (importers/sync.py).
_KEPT_ARGS = ("entity", "job_type", "project", "group", "anonymous", "sync_tensorboard")
_RESUME_MODES = {True: "allow", "allow": "allow", "auto": "allow", "must": "must", "never": "never"}

_current: Run | None = None
_hooks_installed = False


def current() -> Run | None:
    """The run this process records; None before init() and after finish() (wandb.run)."""
    if _current is not None and _current.finished and not _current.forked:
        return None
    return _current


AFTER_FINISH = (
    "{what} after the run finished: gitexp.finish() (or the end of a `with` block) ended "
    "it; start another with gitexp.init()"
)


def ended() -> bool:
    """True when the last run of this process was finished (and none started since)."""
    return _current is not None and _current.finished


_warned_worker_pid: int | None = None


def worker_without_run() -> bool:
    """True (after one warning per process) when this is a multiprocessing worker.

    A worker started by "spawn" or "forkserver" (Python 3.14's default on Linux, and
    so a DataLoader's) has no run: its ``log`` is answered like a forked worker's,
    with a warning, rather than an exception that would stop the training.
    """
    global _warned_worker_pid
    multiprocessing = sys.modules.get("multiprocessing")  # never imported here
    if multiprocessing is None or multiprocessing.parent_process() is None:
        return False
    if _warned_worker_pid != os.getpid():
        _warned_worker_pid = os.getpid()
        warnings.warn(
            f"gitexp: log() in a worker process (pid {os.getpid()}) is not recorded: "
            "only the process that called gitexp.init() writes the run. Log from the "
            "main process instead, e.g. return the values from the worker and log them "
            "in the training loop.",
            stacklevel=3,
        )
    return True


def init(
    project: str | None = None,
    name: str | None = None,
    config: Any = None,
    tags: list[str] | tuple[str, ...] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    reinit: bool | str | None = None,
    id: str | None = None,  # wandb names it so
    resume: bool | str | None = None,
    entity: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    save_code: bool | None = None,
    settings: Any = None,
    sync_tensorboard: bool | None = None,
    **wandb_kwargs: Any,
) -> Run:
    """Start (or join) a run; returns the active run if one is already going.

    ``id`` and ``resume`` ("allow", "must", "never"; True means "allow") continue a run
    that ended (crashed, interrupted, preempted) under its id: see docs/workflow.md.
    ``entity``, ``dir``, ``save_code``, ``settings`` and ``sync_tensorboard`` are wandb's:
    what each does here is in docs/api.md.
    """
    global _current
    from gitexp.sdk.notebook import in_notebook
    from gitexp.sdk.surface import AGENT_TRIAL, init_choices, settings_of

    kept = settings_of(settings)
    mode, project, reinit = init_choices(kept, mode, project, reinit, save_code)
    if entity is not None:
        wandb_kwargs["entity"] = entity
    if sync_tensorboard:
        wandb_kwargs["sync_tensorboard"] = True  # kept in run.json: the recorder reads it
    notebook = in_notebook()
    if reinit is None and notebook:
        reinit = True  # a notebook's next init() finishes the run of the previous one
    resume_mode = _resume_mode(id, resume)
    if _current is not None and not _current._finished and not _current._forked:
        if not reinit:
            return _current
        _current.finish()
    hydra = _hydra_facts(config)
    defaults = _config_defaults(config)
    if AGENT_TRIAL:  # gitexp.agent's trial (sweep/agent.py): its values win, as in wandb
        from gitexp.model.config import set_dotted

        group, name = AGENT_TRIAL["group"], AGENT_TRIAL["name"]
        for key, value in AGENT_TRIAL["values"]:
            set_dotted(defaults, key.split("."), value)
    fields: dict[str, Any] = {
        "name": name,
        "tags": list(tags) if tags else None,
        "notes": notes,
        "group": group,
        "job_type": job_type,
        "project": project,
    }
    extra = {k: v for k, v in wandb_kwargs.items() if k in _KEPT_ARGS and _jsonable(v)}
    ignored = sorted(k for k in wandb_kwargs if k not in extra)
    if ignored:
        warnings.warn(
            f"gitexp: ignoring wandb arguments it does not use: {', '.join(ignored)}",
            stacklevel=2,
        )
    if hydra:
        extra["hydra"] = hydra  # carried to run.json's own "hydra" field by the recorder
    rank = ranks.rank()
    wrapped = bool(os.environ.get(ENV_LIVE_DIR) and os.environ.get(ENV_RUN_ID))
    if rank is not None and os.environ.get(ENV_ALL_RANKS) == "1":
        # Every rank records its own run, all in one group (docs/workflow.md).
        fields["group"] = fields["group"] or ranks.ddp_group()
        fields["name"] = f"{fields['name'] or fields['group']}-rank{rank}"
        extra.update(rank=rank, world_size=ranks.int_env("WORLD_SIZE"))
        if id is not None and rank != 0:
            id = f"{id}-rank{rank}"
    if mode == "disabled" or not ranks.this_rank_records():
        run = Run(
            run_id="disabled", name=name or "disabled", config=Config(defaults), mode=DISABLED
        )
    elif wrapped and rank in (None, 0):
        if (id is not None and id != os.environ.get(ENV_RUN_ID)) or resume_mode is not None:
            warnings.warn(
                "gitexp: under `gitexp run`, id= and resume= are ignored: "
                "resume with `gitexp run --resume RUN`",
                stacklevel=2,
            )
        if getattr(kept, "push", None):
            warnings.warn(
                "gitexp: under `gitexp run`, settings push= is ignored: the wrapper records "
                "the run; push it while it trains with `gitexp run --push REMOTE`",
                stacklevel=2,
            )
        run = _join(defaults, fields, extra)
    else:
        run = _start_here(defaults, fields, extra, id, resume_mode, notebook)
        run.push_while_training(getattr(kept, "push", None), getattr(kept, "push_every", None))
    run.set_surface(fields, extra.get("entity"), kept)
    _current = run
    _install_hooks()
    return run


def _hydra_facts(config: Any) -> dict[str, Any] | None:
    """A Hydra app's command-line overrides and output folder, when its config is passed.

    Read only when the config is OmegaConf's and Hydra is already imported (it is the
    app's launcher then): nothing is imported for anyone else.
    """
    if not (type(config).__module__ or "").startswith("omegaconf") or "hydra" not in sys.modules:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        hydra = HydraConfig.get()
        started_in = str(hydra.runtime.cwd)
        return {
            "overrides": [str(item) for item in hydra.overrides.task],
            "output_dir": os.path.relpath(str(hydra.runtime.output_dir), started_in),
            "job": str(hydra.job.name),
        }
    except Exception as exc:  # Hydra's internals moved: the run goes on without the facts
        warnings.warn(f"gitexp: could not read Hydra's run facts: {exc}", stacklevel=3)
        return None


def _resume_mode(run_id: str | None, resume: bool | str | None) -> str | None:
    """Check ``id=`` and ``resume=``; the mode ("allow", "must", "never") or None."""
    if run_id is not None:
        from gitexp.model.ids import check_user_id

        problem = check_user_id(run_id) if isinstance(run_id, str) else "an id is a string"
        if problem is not None:
            raise ValueError(f"gitexp.init(id={run_id!r}): {problem}")
    if resume is None or resume is False:
        return None
    mode = _RESUME_MODES.get(resume) if isinstance(resume, (bool, str)) else None
    if mode is None:
        raise ValueError(f"gitexp.init(resume={resume!r}): use 'allow', 'must', 'never' or True")
    if mode == "must" and run_id is None:
        raise ValueError("gitexp.init(resume='must') needs the run's id: init(id=..., ...)")
    return mode


def _config_defaults(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    config = plain(config)  # Hydra's DictConfig, click's Context
    if isinstance(config, (str, os.PathLike)):
        return load_config_file(config)
    if isinstance(config, Mapping):
        return Config(config).as_dict()
    if hasattr(config, "__dict__"):  # argparse.Namespace and similar
        return Config(vars(config)).as_dict()
    raise TypeError(
        f"config must be a dict, a Namespace or a YAML file path, got {type(config).__name__}"
    )


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _join(defaults: dict[str, Any], fields: dict[str, Any], extra: dict[str, Any]) -> Run:
    """Log into the run a ``gitexp run`` wrapper started for this process."""
    from gitexp.record.live import LiveDir

    live = LiveDir(os.environ[ENV_LIVE_DIR])
    cli_config: dict[str, Any] = {}
    if os.environ.get(ENV_CONFIG):
        try:
            cli_config = load_config_file(os.environ[ENV_CONFIG])
        except Exception as exc:
            warnings.warn(f"gitexp: could not read the run's config: {exc}", stacklevel=3)
    merged = deep_merge(defaults, cli_config)
    state = live.read_json("run.json") or {}
    config = Config(merged)
    run = Run(
        run_id=os.environ[ENV_RUN_ID],
        name=fields["name"] or state.get("name") or "",
        config=config,
        mode=JOINED,
        live=live,
        start=state.get("start"),
    )
    if cli_config:
        # Which overrides the script takes: it reports its own values through init's
        # config= (and later update()), and reads the rest (model/overrides.py).
        from gitexp.model.overrides import OverrideWatch

        watch = OverrideWatch(cli_config, run.config_changed)
        watch.saw_report(defaults)
        config.set_override_watch(watch)
    resumes = state.get("resumes") if isinstance(state.get("resumes"), list) else []
    run.resumed = bool(resumes)
    # A second init in the same wrapped run (reinit=True) continues its steps; so does a
    # resumed run (`gitexp run --resume`), after its last recorded step.
    run.continue_steps_after(_last_logged_step(live.file("history.jsonl")))
    if resumes and isinstance(resumes[-1], dict):
        run.continue_steps_after(int(resumes[-1].get("from_step") or 0) - 1)
    run.report_script(fields, extra)
    run.start_recording(helpers=[_write_packages(live)])
    return run


def _last_logged_step(path: str) -> int | None:
    """The ``_step`` of the last whole row of a live history file (None when empty)."""
    from gitexp.model import values

    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            row = values.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(row, dict) and isinstance(row.get("_step"), int):
            return int(row["_step"])
    return None


def _write_packages(live: Any) -> threading.Thread:
    """The training interpreter's packages (the wrapper may run under another Python)."""

    def work() -> None:
        from gitexp.record import manifest

        try:
            text = manifest.format_packages(manifest.collect_packages())
            tmp = live.file(f".packages.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, live.file("packages.txt"))
        except OSError:
            pass

    thread = threading.Thread(target=work, name="gitexp-packages", daemon=True)
    thread.start()
    return thread


def _start_here(
    defaults: dict[str, Any],
    fields: dict[str, Any],
    extra: dict[str, Any],
    run_id: str | None = None,
    resume: str | None = None,
    notebook: bool = False,
) -> Run:
    """Record a run from this process (the script was not started by ``gitexp run``)."""
    from gitexp.errors import GitexpError, RepositoryStateError, UnknownRunError
    from gitexp.git.repo import GitRepo
    from gitexp.record.live import recover_left_behind
    from gitexp.record.starting import collect_slow_facts, start_background, start_run
    from gitexp.record.sysmetrics import STARTUP_GRACE_SECONDS, start_sampler

    script_dir = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else None
    command = [sys.executable, *sys.argv]
    config = defaults
    resumed = False
    try:
        try:
            repo = GitRepo.discover()
        except GitexpError:
            if not script_dir:
                raise
            repo = GitRepo.discover(script_dir)
        recover_left_behind(repo)
        if notebook:
            command = _notebook_command(repo.root, extra)
        exists = False
        if run_id is not None:  # resuming is the rare case: its module only then (~2 ms)
            from gitexp.record.resume import run_exists

            exists = run_exists(repo, run_id)
    except Exception as exc:
        return _not_recording(exc, fields, defaults)
    try:
        if exists and resume in (None, "never"):
            raise RepositoryStateError(
                f"a run with id {run_id} exists already",
                "Continue it with gitexp.init(id=..., resume='allow'), or choose another id.",
            )
        if not exists and resume == "must":
            raise UnknownRunError(f"resume='must', but there is no run {run_id} to resume")
        if exists and run_id is not None:
            from gitexp.record.resume import resume_run

            recorder, snapshot, recorded = resume_run(repo, run_id)
            config = deep_merge(defaults, recorded)
            resumed = True
        else:
            recorder, snapshot = start_run(
                repo,
                command=command,
                config=defaults,
                source="script",
                name=fields["name"],
                tags=fields["tags"],
                notes=fields["notes"],
                group=fields["group"],
                extra=extra,
                run_id=run_id,
            )
            recorder.info.job_type = fields["job_type"]
            recorder.info.project = fields["project"]
    except (RepositoryStateError, UnknownRunError):
        repo.close()
        raise  # the id or resume= the script asked for cannot be honoured: a clear error
    except Exception as exc:
        repo.close()
        return _not_recording(exc, fields, defaults)
    info = recorder.info
    run = Run(
        run_id=info.id,
        name=info.name,
        config=Config(config),
        mode=SCRIPT,
        live=recorder.live,
        recorder=recorder,
        start=info.start,
    )
    if resumed:
        run.resumed = True
        run.continue_steps_after(int(info.resumes[-1]["from_step"]) - 1)
    last = recorder.system.last_step
    sampler = start_sampler(
        recorder.live.file("system.jsonl"),
        info.start,
        os.getpid(),
        0 if last is None else last + 1,
        grace=STARTUP_GRACE_SECONDS,
        own_process=True,
    )
    facts = start_background(
        lambda: collect_slow_facts(recorder, snapshot.skipped), "gitexp-manifest"
    )
    run.start_recording(helpers=[facts], system_sampler=sampler, capture_output=True)
    return run


def _not_recording(exc: Exception, fields: dict[str, Any], defaults: dict[str, Any]) -> Run:
    warnings.warn(f"gitexp: not recording this run: {exc}", stacklevel=4)
    return Run(
        run_id="disabled", name=fields["name"] or "disabled", config=Config(defaults), mode=DISABLED
    )


def _notebook_command(root: str, extra: dict[str, Any]) -> list[str]:
    """A notebook's run: its path in ``extra``, a warning when the running cell is unsaved."""
    from gitexp.sdk.notebook import notebook_path, rerun_command, running_cell_unsaved

    path = notebook_path()
    if path is None:
        warnings.warn(
            "gitexp: cannot tell which notebook this kernel runs; set the environment variable "
            "GITEXP_NOTEBOOK to its path so that the run names it",
            stacklevel=5,
        )
        return [sys.executable, "-m", "ipykernel_launcher"]
    extra["notebook"] = os.path.relpath(path, root).replace(os.sep, "/")
    if running_cell_unsaved(path):
        warnings.warn(
            f"gitexp: {os.path.basename(path)} has unsaved changes (the cell calling "
            "gitexp.init() differs from the saved file); the run records the notebook as "
            "last saved: save it (Ctrl-S) before init() to record what runs",
            stacklevel=5,
        )
    return rerun_command(path)


def _install_hooks() -> None:
    """Finish at exit, mark failures from uncaught exceptions, and disown forked children."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        run = _current
        if run is not None and not run.finished:
            run.mark_failed(issubclass(kind, KeyboardInterrupt))
        previous(kind, exc, tb)

    sys.excepthook = excepthook
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork
        )


def _before_fork() -> None:
    if _current is not None:
        _current.before_fork()


def _after_fork_in_parent() -> None:
    if _current is not None:
        _current.after_fork_in_parent()


def _after_fork() -> None:
    # A forked child (a DataLoader worker) shares the run object but must never write it.
    if _current is not None:
        _current.mark_forked()


def _at_exit() -> None:
    if _current is not None:
        _current.finish()


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    if _current is not None:
        _current.finish(exit_code=exit_code, quiet=quiet)
