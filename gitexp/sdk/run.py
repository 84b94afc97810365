"""The ``Run`` object a script gets from ``gitexp.init()`` (wandb-shaped).

Three modes:

* ``script``: the script was started without ``gitexp run``; this process snapshots the
  workspace at ``init``, records the run (a background thread commits checkpoints) and
  finalizes it at ``finish``, at interpreter exit, or on an uncaught exception.
* ``joined``: the script runs under ``gitexp run``; it writes metrics, config and run
  fields into the wrapper's live folder, and the wrapper records and finalizes.
* ``disabled``: tracking is off (``mode="disabled"``, a non-zero DDP rank, or tracking
  could not start); every call works and records nothing.

Tracking failures inside a training process become warnings, never exceptions.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from gitexp.model.config import Config
from gitexp.model.ids import short_id
from gitexp.sdk.logger import FLUSH_SECONDS, Logger
from gitexp.sdk.runartifacts import RunArtifacts
from gitexp.sdk.surface import RunSurface
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from gitexp.record.live import LiveDir
    from gitexp.record.recorder import Recorder
    from gitexp.record.sysmetrics import SamplerProcess, SystemSampler
    from gitexp.sdk.alerts import Alerts
    from gitexp.sdk.capture import OutputCapture
    from gitexp.sdk.lineagelog import RunLineage
    from gitexp.sdk.saving import Saver
    from gitexp.share.livepush import LivePush

# Status names as in gitexp.model.record (not imported: it pulls in dataclasses).
FINISHED, FAILED, INTERRUPTED = "finished", "failed", "interrupted"
SLOW_FACTS_WAIT = 10.0  # as gitexp.record.starting.SLOW_FACTS_WAIT

_GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}

SCRIPT = "script"
JOINED = "joined"
DISABLED = "disabled"


def _say(message: str) -> None:
    """What the pushing thread reports: one line on stderr (and so in the run's log); it
    may quote what the remote said, so control characters are made visible."""
    from gitexp.render.cells import printable

    print(f"gitexp: {printable(message)}", file=sys.stderr, flush=True)


def _summary_choice(summary: object) -> str:
    """define_metric's ``summary=``: one of model/summary.py's CHOICES.  wandb also takes
    several ("min,max"); gitexp keeps one value per metric: the first, with a warning."""
    from gitexp.model.summary import CHOICES

    text = str(summary).strip().lower()
    first = text.split(",")[0].strip()
    if first not in CHOICES:
        raise ValueError(f"summary must be one of {', '.join(CHOICES)}, got {summary!r}")
    if first != text:
        warnings.warn(
            f"gitexp: define_metric(summary={summary!r}): gitexp keeps one summary value "
            f"per metric; using {first!r}",
            stacklevel=4,
        )
    return first


class Summary(MutableMapping[str, "Any"]):
    """``run.summary``: the last logged value of each key, unless set explicitly."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self.overrides: dict[str, object] = {}

    def _current(self) -> dict[str, object]:
        self._run._flush_rows()
        merged = {k: v for k, v in self._run._last_values().items() if not k.startswith("_")}
        merged.update(self.overrides)
        return merged

    def __getitem__(self, key: str) -> Any:
        return self._current()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        from gitexp.model import values

        to_json = getattr(value, "to_gitexp_json", None)
        if to_json is not None:  # a gitexp.Histogram, stored as gitexp.log stores it
            self.overrides[key] = to_json()
        else:
            try:
                self.overrides[key] = values.normalize(value)
            except values.UnsupportedValue:
                self.overrides[key] = str(value)
        self._run._dirty_summary = True

    def __delitem__(self, key: str) -> None:
        del self.overrides[key]
        self._run._dirty_summary = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"Summary({self._current()!r})"


class Run(RunArtifacts, RunSurface):
    """One recorded run, as seen from inside the training script (more of wandb's
    surface in sdk/surface.py, artifacts and lineage in sdk/runartifacts.py)."""

    def __init__(
        self,
        *,
        run_id: str,
        name: str,
        config: Config,
        mode: str,
        live: LiveDir | None = None,
        recorder: Recorder | None = None,
        start: float | None = None,
    ) -> None:
        self.id = run_id
        self._fields: dict[str, Any] = {}
        self.name = name
        self.config = config
        self.mode = mode
        self.summary = Summary(self)
        self._live = live
        self._recorder = recorder
        self._start = start or time.time()
        self._owner_pid = os.getpid()
        self._forked = False
        self._warned_forked_log = False
        self._finished = False
        self._dirty_config = True
        self._dirty_summary = False
        self._exit_status: tuple[str, int] | None = None
        self._warned_failure = False
        self._logger: Logger | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._output: OutputCapture | None = None
        self._script: dict[str, Any] = {}
        self._helpers: list[threading.Thread] = []
        self._system: SystemSampler | SamplerProcess | None = (
            None  # the sampler of a directly run script
        )
        self.resumed = False  # True when this run continues an earlier one (resume=)
        self._root: str | None = recorder.repo.root if recorder is not None else None
        self._lineage_log: RunLineage | None = None
        self._saver: Saver | None = None
        self._alerts: Alerts | None = None
        self._live_push: LivePush | None = None  # settings push=: share/livepush.py
        if live is not None:
            self._logger = Logger(live.file("history.jsonl"), self._start)
            config._on_change = self.config_changed
        # What gitexp.log calls straight while this process records (one frame less per
        # call, paying for the logger's lock); None once finished or in a fork.
        self.recording_logger: Logger | None = self._logger

    # -- the wandb-shaped surface -----------------------------------------------------

    @property
    def step(self) -> int:
        return self._logger.step if self._logger else 0

    @property
    def disabled(self) -> bool:
        return self.mode == DISABLED

    def log(
        self, data: Mapping[str, object], step: int | None = None, commit: bool | None = None
    ) -> None:
        """Record metrics for a step; see ``gitexp.log``."""
        logger = self._logger
        if logger is None or self._forked or self._finished:
            if not isinstance(data, Mapping):
                raise TypeError(f"gitexp.log() takes a dict of metrics, got {type(data).__name__}")
            if self._forked and logger is not None:
                self._warn_forked_log()
            elif self._finished and logger is not None:
                from gitexp.sdk.session import AFTER_FINISH

                raise RuntimeError(AFTER_FINISH.format(what="run.log()"))
            return
        logger.log(data, step, commit)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: flush everything and (in script mode) write the final commit."""
        if self._finished or self._forked or os.getpid() != self._owner_pid:
            return
        self.recording_logger = None
        self._finished = True
        self._stop.set()
        if self._system is not None:
            self._system.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._log_saved_large_files()
        self._flush_live(final=True)
        self._restore_streams()
        for helper in self._helpers:  # the GPU query and package list belong in the run
            helper.join(timeout=SLOW_FACTS_WAIT)
        if self._recorder is not None:
            status, code = self._exit_status or (
                (FINISHED, 0) if not exit_code else (FAILED, exit_code)
            )
            if exit_code is not None and self._exit_status is None:
                code = exit_code
            try:
                self._recorder.finalize(status, code)
                if not quiet:
                    print(
                        f"gitexp: run {self.name} ({short_id(self.id)}) {status}: "
                        f"refs/gitexp/runs/{self.id}",
                        file=sys.stderr,
                    )
            except Exception as exc:
                self._warn_failure(f"could not finalize the run: {exc}")
            finally:
                self._recorder.repo.close()
            self._push_final()

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        *,
        goal: str | None = None,
        summary: str | None = None,
        hidden: bool | None = None,
        **kwargs: object,
    ) -> None:
        """Declare how a metric is judged and summarized (docs/api.md#define_metric).

        Stored in ``run.json`` under ``extra.metric_definitions``: ``goal`` marks the best
        value in ``compare``; ``summary`` ("min", "max", "mean", "best", "last", "none")
        picks the metric's summary value (model/summary.py); ``step_metric`` is its
        x-axis.  ``name`` may be a glob (``"val/*"``).  wandb's other simple arguments
        are kept as given.
        """
        if goal is not None and str(goal).lower() not in _GOALS:
            raise ValueError(f"goal must be 'minimize' or 'maximize', got {goal!r}")
        definition: dict[str, object] = {"goal": _GOALS[str(goal).lower()] if goal else None}
        if step_metric is not None:
            definition["step_metric"] = str(step_metric)
        if summary is not None:
            definition["summary"] = _summary_choice(summary)
        if hidden is not None:
            definition["hidden"] = bool(hidden)
        definition.update({k: v for k, v in kwargs.items() if isinstance(v, (str, bool))})
        # Under "extra", the one part of script.json the wrapper merges into run.json.
        defs = self._script.setdefault("extra", {}).setdefault("metric_definitions", {})
        defs[str(name)] = definition
        self.write_script_json()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.mark_failed(issubclass(exc_type, KeyboardInterrupt))
        self.finish()

    def __repr__(self) -> str:
        return f"<gitexp.Run {self.name} ({self.id}) {self.mode}>"

    # -- what gitexp.init and the process hooks drive (sdk/session.py) ----------------

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def forked(self) -> bool:
        """This process is a fork of the one recording the run (a DataLoader worker)."""
        return self._forked

    def continue_steps_after(self, step: int | None) -> None:
        """Go on logging after ``step`` (a second init in one run, a resumed run)."""
        if self._logger is not None:
            self._logger.continue_after(step)

    def report_script(self, fields: Mapping[str, object], extra: dict[str, object]) -> None:
        """What ``init`` reported of the script (name, tags, ...), for the wrapper to record."""
        self._script.update({k: v for k, v in fields.items() if v is not None})
        self._script["extra"] = extra
        self._script["python"] = {"executable": sys.executable, "version": sys.version.split()[0]}
        self.write_script_json()

    def start_recording(
        self,
        helpers: Iterable[threading.Thread] = (),
        system_sampler: SystemSampler | SamplerProcess | None = None,
        capture_output: bool = False,
    ) -> None:
        """Start what records while the script trains: output capture (a directly run
        script; under ``gitexp run`` the wrapper captures it), background helpers whose
        facts belong in the run, the system sampler, and the periodic flush."""
        if capture_output:
            self._capture_output()
        self._helpers.extend(helpers)
        self._system = system_sampler
        self._flush_live()
        self._start_background()

    def push_while_training(self, remote: object, every: object) -> None:
        """Push the run's commits to a remote while it trains, when init's settings
        (``push``, ``push_every``), ``GITEXP_PUSH`` or ``git config gitexp.push`` ask:
        a thread does it (share/livepush.py), so ``log`` never waits on the network."""
        if self._recorder is None or self._forked:
            return
        from gitexp.record.envvars import ENV_PUSH

        if remote is None and not (
            os.environ.get(ENV_PUSH) or self._recorder.repo.config_value("gitexp", "push")
        ):
            return  # the common case, without importing the pusher (and typing with it)
        from gitexp.share.livepush import start_in_script

        try:
            self._live_push = start_in_script(self._recorder, remote, every, _say)
        except Exception as exc:  # a bug must not stop the training: it goes on unpushed
            self._warn_failure(f"could not start pushing the run: {exc}")

    def _push_final(self) -> None:
        """The finished run to the remote it was pushed to while it trained (retried)."""
        if self._live_push is None:
            return
        try:
            self._live_push.finish()
        except Exception as exc:  # the run is recorded here: `gitexp push` sends it later
            self._warn_failure(f"could not push the finished run: {exc}")

    def mark_failed(self, interrupted: bool) -> None:
        """An uncaught exception (or Ctrl-C) ends the script: the run failed (interrupted)."""
        if self._exit_status is None:
            self._exit_status = (INTERRUPTED, 130) if interrupted else (FAILED, 1)

    def before_fork(self) -> None:
        """About to fork: the output capture hands the child a clean log (sdk/capture.py)."""
        if self._output is not None:
            self._output.before_fork()

    def after_fork_in_parent(self) -> None:
        if self._output is not None:
            self._output.after_fork_in_parent()

    def mark_forked(self) -> None:
        """This process is a fork (a DataLoader worker): it shares the run, never writes it.

        Its output still reaches the log (a directly run script's capture goes on, line
        by line); its ``log`` calls warn once (``_warn_forked_log``)."""
        if self._output is not None:
            self._output.after_fork_in_child()
        self.recording_logger = None
        self._forked = True
        self._warned_forked_log = False  # a fork of a fork warns for itself

    # -- plumbing ------------------------------------------------------------------------

    def config_changed(self) -> None:
        self._dirty_config = True

    def _last_values(self) -> dict[str, object]:
        return self._logger.last_values if self._logger else {}

    def _flush_rows(self) -> None:
        if self._logger is not None and not self._forked:
            try:
                self._logger.flush()
            except OSError as exc:
                self._warn_failure(f"could not write metrics: {exc}")

    def _flush_live(self, final: bool = False) -> None:
        """Write buffered rows, config and summary to the live folder."""
        if self._live is None or self._forked:
            return
        try:
            if self._logger is not None:
                self._logger.flush(final=final)
            if self._dirty_config:
                self._dirty_config = False
                self._live.write_json("config.json", self.config.stored())
                watch = self.config.override_watch()
                if watch is not None:
                    self._live.write_json("overrides.json", watch.as_json())
            if self._dirty_summary:
                self._dirty_summary = False
                self._live.write_json("summary.json", self.summary.overrides)
            if self._output is not None:
                self._output.flush()
            if self._saver is not None and not final:
                self._saver.flush(final=False)
        except OSError as exc:
            self._warn_failure(f"could not write to {self._live.path}: {exc}")

    def _background(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._flush_live()
            if self._recorder is not None:
                try:
                    self._recorder.checkpoint()
                except Exception as exc:
                    self._warn_failure(f"could not write a checkpoint: {exc}")

    def _start_background(self) -> None:
        self._thread = threading.Thread(target=self._background, name="gitexp-flush", daemon=True)
        self._thread.start()

    def _capture_output(self) -> None:
        if self._live is None:
            return
        from gitexp.sdk.capture import OutputCapture

        self._output = OutputCapture(self._live.file("output.log"))

    def _restore_streams(self) -> None:
        if self._output is not None:
            self._output.restore()
            self._output = None

    def write_script_json(self) -> None:
        if self._live is None or self._forked:
            return
        try:
            if self._recorder is not None:
                self._recorder.info.extra.update(self._script.get("extra") or {})
            else:
                self._live.write_json("script.json", self._script)
        except OSError as exc:
            self._warn_failure(f"could not write run fields: {exc}")

    def _warn_forked_log(self) -> None:
        """One warning per forked process: its rows cannot reach the parent's history.

        Sending them to the parent would need a channel the parent reads on the hot path
        (and a fork may outlive it); a row in the child alone would be silently lost.
        The pid in the message keeps Python's once-per-location filter, inherited from
        the parent, from hiding the warning of a second generation of forks.
        """
        if self._warned_forked_log:
            return
        self._warned_forked_log = True
        warnings.warn(
            f"gitexp: log() in a forked process (pid {os.getpid()}, e.g. a DataLoader "
            f"worker) is not recorded: only the process that called gitexp.init() (pid "
            f"{self._owner_pid}) writes the run. Log from the main process instead, e.g. "
            "return the values from the worker and log them in the training loop.",
            stacklevel=4,
        )

    def _warn_failure(self, message: str) -> None:
        if not self._warned_failure:
            self._warned_failure = True
            warnings.warn(f"gitexp: {message} (training goes on)", stacklevel=3)
