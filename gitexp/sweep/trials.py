"""A search's trials on this machine: asked of Optuna one by one, watched while they run.

Unlike a grid (sweep/local.py runs a list known up front), a search asks the study for
each next trial when a slot frees up, so every result informs the next choice.  While a
trial runs, the metric rows its script logs are read from the run's live folder
(record/live.py) and reported to the trial; when the pruner gives up on it, the sweep
writes the ``pruned`` mark into that folder and sends SIGTERM to the trial's ``gitexp
run``, which stops the command as it stops any interrupted run, and records the run
with the status ``pruned`` (record/keeper.py).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitexp.git.repo import GitRepo
from gitexp.model import history as historymod
from gitexp.model.record import FINISHED, PRUNED
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.runview import load_run, read_history
from gitexp.record.keeper import PRUNED_MARK
from gitexp.record.live import LiveDir, list_live
from gitexp.record.supervise import terminal_foreground
from gitexp.slotted import Slotted
from gitexp.sweep import space as sweepmod
from gitexp.sweep import study as studymod
from gitexp.sweep.executor import Executor, Job, LocalExecutor

if TYPE_CHECKING:
    from types import FrameType

POLL_SECONDS = 0.1


class Trial(Slotted):
    """One running trial: Optuna's trial, its run's name, process and live folder."""

    _fields = ("trial", "name", "process", "live", "read", "pruned", "reported")
    __slots__ = _fields

    def __init__(self, trial: Any, name: str, process: Job) -> None:
        self.trial, self.name, self.process = trial, name, process
        self.live: LiveDir | None = None
        self.read = 0  # bytes of the live history.jsonl already reported
        self.pruned = False
        self.reported: set[int] = set()  # the steps reported to Optuna


class Search(Slotted):
    """What a search needs to start and judge its trials."""

    _fields = ("study", "params", "metric", "group", "prune", "argv", "names", "commondir")
    __slots__ = _fields

    def __init__(
        self,
        study: Any,
        params: list[sweepmod.Parameter],
        metric: str,
        group: str,
        prune: bool,
        argv: Callable[[str, sweepmod.Combination], list[str]],
        names: Callable[[int], str],
    ) -> None:
        self.study, self.params, self.metric, self.group = study, params, metric, group
        self.prune, self.argv, self.names = prune, argv, names
        with GitRepo.discover() as repo:
            self.commondir = repo.commondir  # where the trials' live folders appear


def run_search(
    search: Search,
    count: int,
    parallel: int,
    on_start: Callable[[int, int, str], None],
    on_done: Callable[[int, int, str, str], None],
    gate: Callable[[str, bool], bool | None] | None = None,
    executor: Executor | None = None,
) -> list[str]:
    """Run ``count`` trials, ``parallel`` at once; the status each run ended with.

    ``executor`` starts each (sweep/executor.py; default: this machine).

    ``gate`` holds the other trials while the first runs, as for a grid (sweep/local.py).
    SIGTERM (and Ctrl-C not from a terminal) is forwarded to the running trials; either
    ends the search with KeyboardInterrupt once they stopped.
    """
    dists = studymod.distributions(search.params)
    executor = executor or LocalExecutor()
    running: list[Trial] = []
    statuses: list[str] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for item in running:
            with contextlib.suppress(ProcessLookupError):
                item.process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    started = 0
    held: str | None = None
    gated = gate is not None and count > 1
    asked = 0.0
    try:
        while (started < count and not stopping) or running:
            if held is not None:
                ended = all(item.name != held for item in running)
                due = ended or (parallel > 1 and time.monotonic() - asked >= 0.5)
                verdict = gate(held, ended) if gate is not None and due else None
                asked = time.monotonic() if due else asked
                if verdict is False:
                    count = started
                if verdict is not None:
                    held, gated = None, False
                elif ended:
                    held = None  # undecided: the next trial is held in its turn
            limit = 1 if gated else parallel
            while started < count and len(running) < limit and not stopping:
                trial = search.study.ask(dists)
                name = search.names(trial.number)
                combo = studymod.combination(trial, search.params)
                started += 1
                on_start(started, count, name)
                running.append(Trial(trial, name, executor.submit(name, search.argv(name, combo))))
                if gated and held is None:
                    held = name
            time.sleep(POLL_SECONDS)
            for item in list(running):
                if search.prune and not item.pruned:
                    _watch(search, item)
                if item.process.poll() is not None:
                    running.remove(item)
                    status = _tell(search, item)
                    statuses.append(status)
                    on_done(len(statuses), count, item.name, status)
    except KeyboardInterrupt:
        if not terminal_foreground() or not executor.here:  # jobs elsewhere, too
            forward(signal.SIGINT, None)
        for item in running:
            item.process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stopping:
        raise KeyboardInterrupt
    return statuses


def _find_live(search: Search, item: Trial) -> LiveDir | None:
    """The live folder of the trial's run (its name and group say which)."""
    for live in list_live(search.commondir):
        info = live.read_json("run.json")
        if (
            isinstance(info, dict)
            and info.get("name") == item.name
            and info.get("group") == search.group
        ):
            return live
    return None


def _watch(search: Search, item: Trial) -> None:
    """Report the metric rows logged since the last look; stop the trial when pruned."""
    if item.live is None:
        item.live = _find_live(search, item)
        if item.live is None:
            return
    try:
        with open(item.live.file("history.jsonl"), "rb") as handle:
            handle.seek(item.read)
            data = handle.read()
    except OSError:
        return
    end = data.rfind(b"\n") + 1  # a row still being written waits for the next look
    item.read += end
    steps = studymod.metric_steps(historymod.parse_rows(data[:end]), search.metric)
    for step, value in sorted(steps.items()):
        item.trial.report(value, step)
        item.reported.add(step)
    if steps and item.trial.should_prune():
        item.pruned = True
        with contextlib.suppress(OSError), open(item.live.file(PRUNED_MARK), "w") as mark:
            mark.write(f"{max(steps)}\n")
        with contextlib.suppress(ProcessLookupError):
            item.process.send_signal(signal.SIGTERM)


def _report_rest(repo: GitRepo, search: Search, item: Trial, entry: RunEntry) -> None:
    """Report the steps of a finished trial the watch did not read while it ran (a trial
    of a second may end before its first look): the pruners judge later trials against
    every step of the finished ones, as a study rebuilt from the runs would."""
    rows = read_history(repo, load_run(repo, entry))
    for step, value in sorted(studymod.metric_steps(rows, search.metric).items()):
        if step not in item.reported:
            item.trial.report(value, step)


def _tell(search: Search, item: Trial) -> str:
    """Tell the study how the trial ended; the status its run was recorded with."""
    optuna = studymod.import_optuna()
    with GitRepo.discover() as repo:
        entry = next(
            (
                e
                for e in list_runs(repo)
                if e.row.get("group") == search.group and e.row.get("name") == item.name
            ),
            None,
        )
        status = entry.status if entry is not None else "failed"
        if search.prune and entry is not None and status == FINISHED:
            _report_rest(repo, search, item, entry)
    value = studymod.summary_value(entry.row, search.metric) if entry is not None else None
    # GridSampler calls study.stop() once the grid is covered, which Optuna allows only
    # inside study.optimize; the trial's state is stored all the same (in a finally).
    with contextlib.suppress(RuntimeError):
        if status == PRUNED:
            search.study.tell(item.trial, state=optuna.trial.TrialState.PRUNED)
        elif status == FINISHED and value is not None:
            search.study.tell(item.trial, value)
        else:
            search.study.tell(item.trial, state=optuna.trial.TrialState.FAIL)
    return status
