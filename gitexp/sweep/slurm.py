"""Trials as SLURM jobs, through submitit: ``gitexp sweep --executor slurm``.

Each trial is one job running the trial's ``gitexp run`` command line in the repository,
which the login node and the compute nodes share (a cluster's shared filesystem); a
grid's trials after the first go as one job array.  submitit keeps each job's pickled
call, stdout and stderr under ``.git/gitexp/slurm/<group>/``: inside ``.git``, so never
in a run's snapshot.

In the job, :class:`TrialCall` starts ``gitexp run`` and stands between it and the
scheduler.  SLURM stops a job with SIGTERM (preemption, ``scancel``, the time limit),
and submitit asks SLURM for SIGUSR2 shortly before the time limit; on either, unless
the sweep itself asked the trial to stop, the call writes the ``preempted`` mark into
the run's live folder and stops ``gitexp run``, which then records the run as
``preempted`` rather than ``interrupted`` (record/keeper.py), so that ``gitexp sweep``
(the same grid again, or ``--resume``) knows to run it again.

``GITEXP_SLURM_CLUSTER=local`` runs the jobs through submitit's local executor instead,
as processes of this machine: how the tests exercise this module without a cluster.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitexp.errors import UsageError
from gitexp.model import validate
from gitexp.record.keeper import PREEMPTED_MARK
from gitexp.record.live import hostname, list_live
from gitexp.slotted import Slotted
from gitexp.sweep.executor import Job, trial_env

if TYPE_CHECKING:
    from types import FrameType

CLUSTER_ENV = "GITEXP_SLURM_CLUSTER"  # "slurm" (the default) or "local" (the tests)
INSTALL = "pip install 'gitexp[slurm]'"
# A job is looked at once a second at most: on a cluster each look reads the shared
# filesystem, and a sweep polls its trials twenty times a second.
POLL_SECONDS = 1.0
# SLURM's --time forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
# days-hours:minutes, days-hours:minutes:seconds.
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_OPTION_KEY = re.compile(r"[a-z][a-z0-9_-]*")


def import_submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:
        raise UsageError(
            "--executor slurm needs submitit, which is not installed",
            f"Install it: {INSTALL}",
        ) from exc
    return submitit


def parse_time(text: str) -> int:
    """Minutes (rounded up) of a SLURM time limit: ``90``, ``1:30:00``, ``2-00:00``."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"--time {text!r} is not a SLURM time limit",
            "Give minutes (90), H:MM:SS (1:30:00) or D-HH:MM (2-00:00).",
        )
    days, first, second, third = match.groups()
    if days is not None:  # days-hours[:minutes[:seconds]]
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        hours += 24 * int(days)
    elif third is not None:  # hours:minutes:seconds
        hours, minutes, seconds = int(first), int(second), int(third)
    else:  # minutes[:seconds]
        hours, minutes, seconds = 0, int(first), int(second or 0)
    total = 60 * hours + minutes + (1 if seconds else 0)
    if total < 1:
        raise UsageError(f"--time {text!r} is no time at all", "Give at least one minute.")
    return total


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``--slurm-option KEY=VALUE`` pairs: sbatch options gitexp has no flag of its own for."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not _OPTION_KEY.fullmatch(key) or not value:
            raise UsageError(
                f"--slurm-option {pair!r} is not KEY=VALUE",
                "Give an sbatch option without its dashes: --slurm-option account=proj42 "
                "--slurm-option qos=high",
            )
        options[key] = value
    return options


class SlurmOptions(Slotted):
    """What every trial's job asks the scheduler for (None: the cluster's default)."""

    _fields = ("partition", "minutes", "gpus_per_task", "cpus_per_task", "mem", "extra")
    __slots__ = _fields

    def __init__(
        self,
        partition: str | None = None,
        minutes: int | None = None,
        gpus_per_task: int | None = None,
        cpus_per_task: int | None = None,
        mem: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.partition, self.minutes = partition, minutes
        self.gpus_per_task, self.cpus_per_task, self.mem = gpus_per_task, cpus_per_task, mem
        self.extra: dict[str, str] = {} if extra is None else extra


def options_of(args: Any) -> SlurmOptions:
    """The options of ``gitexp sweep --executor slurm`` (commands/sweep.py), checked."""
    for flag, value, least in (
        ("--gpus-per-task", args.gpus_per_task, 0),
        ("--cpus-per-task", args.cpus_per_task, 1),
    ):
        if value is not None and value < least:
            raise UsageError(f"{flag} takes a number of at least {least}")
    return SlurmOptions(
        args.partition,
        parse_time(args.time) if args.time else None,
        args.gpus_per_task,
        args.cpus_per_task,
        args.mem,
        parse_options(args.slurm_option),
    )


class SlurmExecutor:
    """Each trial a submitit job; a grid's batch of trials one job array."""

    name = "slurm"
    here = False  # jobs elsewhere: a Ctrl-C is forwarded to them

    def __init__(
        self,
        group: str,
        options: SlurmOptions,
        parallel: int,
        commondir: str,
        say: Callable[[str], None] = lambda _line: None,
    ) -> None:
        # The group names a folder under .git and a line of the batch script (#SBATCH
        # --job-name): a path or a newline there would leave both.
        problem = validate.check_sweep_id(group)
        if problem:
            raise UsageError(
                f"{problem}: a SLURM sweep's group names its jobs and their log folder",
                "Give --group NAME with 1 to 64 letters, digits, '.', '_' or '-'.",
            )
        submitit = import_submitit()
        self.cluster = os.environ.get(CLUSTER_ENV) or "slurm"
        if self.cluster not in ("slurm", "local"):
            raise UsageError(f"{CLUSTER_ENV}={self.cluster!r}: slurm (the default) or local")
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise UsageError(
                "--executor slurm submits jobs with sbatch, which is not on this machine",
                "Run the sweep on the cluster's login node (docs/workflow.md#sweeps-on-slurm).",
            )
        if self.cluster == "slurm" and options.minutes is None:
            # submitit would otherwise ask for 5 minutes: a trap, not a default.
            raise UsageError(
                "--executor slurm needs --time, each trial's time limit",
                "Example: --time 2:00:00 (H:MM:SS), or --time 90 (minutes).",
            )
        self.commondir = commondir
        self.say = say
        self.folder = os.path.join(commondir, "gitexp", "slurm", group)
        self.cwd = os.getcwd()
        self.executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        parameters: dict[str, object] = {
            "name": f"gitexp-{group}",
            "timeout_min": options.minutes or 60,
            "slurm_array_parallelism": parallel,
        }
        wanted = {
            "slurm_partition": options.partition,
            "slurm_gpus_per_task": options.gpus_per_task,
            "cpus_per_task": options.cpus_per_task,
            "slurm_mem": options.mem,
            "slurm_additional_parameters": options.extra or None,
        }
        parameters.update({key: value for key, value in wanted.items() if value is not None})
        try:
            self.executor.update_parameters(**parameters)
        except (NameError, ValueError, TypeError, AssertionError) as exc:
            raise UsageError(f"submitit refused the SLURM options: {exc}") from exc

    def submit(self, name: str, argv: list[str]) -> Job:
        return self.submit_array([(name, argv)])[0]

    def submit_array(self, trials: list[tuple[str, list[str]]]) -> list[Job]:
        """The trials as one job array (a single trial: a plain job); -j of them at once."""
        calls = [
            TrialCall(argv, self.cwd, self.commondir, self._stop_file()) for _n, argv in trials
        ]
        try:
            with self.executor.batch():
                jobs = [self.executor.submit(call) for call in calls]
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            raise UsageError(
                f"the scheduler refused the trials: {exc}",
                "Check --partition, --time, --gpus-per-task and --slurm-option "
                "(`sinfo` lists the partitions).",
            ) from exc
        local = self.cluster == "local"
        return [
            SubmittedJob(job, call.stop_file, local, self.say)
            for job, call in zip(jobs, calls, strict=True)
        ]

    def _stop_file(self) -> str:
        # One per submission: a trial of a grid run again has the same name, and an old
        # stop request must not turn a new preemption into a stop the sweep asked for.
        return os.path.join(self.folder, "stops", uuid.uuid4().hex)

    def close(self) -> None:
        return None


class SubmittedJob:
    """A submitit job in the shape of subprocess.Popen (sweep/executor.py's Job)."""

    def __init__(self, job: Any, stop_file: str, local: bool, say: Callable[[str], None]) -> None:
        self.job, self.stop_file, self.local, self.say = job, stop_file, local, say
        self.code: int | None = None
        self.looked = 0.0
        self.stopping: int | None = None  # a signal asked for and not yet sent

    def poll(self) -> int | None:
        return self._look(force=False)

    def _look(self, force: bool) -> int | None:
        if self.stopping is not None and self.code is None:
            signum, self.stopping = self.stopping, None
            self._stop(signum)
        if self.code is not None or time.monotonic() - self.looked < POLL_SECONDS:
            return self.code
        self.looked = time.monotonic()
        # The job's result file answers first; the scheduler is asked (sacct) only now
        # and then, unless forced: one call a second per job would burden it.
        if self.job.done(force_check=force):
            try:
                result = self.job.result()
            except Exception:  # ended without an answer (cancelled, killed): its log says why
                result = None
                where = getattr(getattr(self.job, "paths", None), "stderr", None)
                self.say(f"sweep: job {self.job.job_id} ended without a result; see {where}")
            self.code = result if isinstance(result, int) else 1
        return self.code

    def send_signal(self, signum: int) -> None:
        """Stop the trial at the next look (:meth:`poll`, :meth:`wait`): the sweep asks
        from its signal handler, where writing files and running ``scancel`` for every
        job of an array has no place."""
        self.stopping = signum

    def _stop(self, signum: int) -> None:
        """The sweep stops the trial (pruned, or the sweep itself stopped): say so first,
        so that the job does not take the signal for the scheduler's."""
        with contextlib.suppress(OSError):  # unsaid, the trial just ends preempted
            os.makedirs(os.path.dirname(self.stop_file), exist_ok=True)
            with open(self.stop_file, "w"):
                pass
        if self.local:
            # submitit's local controller passes SIGTERM on to the job, and only SIGTERM.
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(self.job.job_id), signal.SIGTERM)
            return
        job_id = str(self.job.job_id)
        name = signal.Signals(signum).name.removeprefix("SIG")
        # Not started (pending): nothing to signal, and it must not start later.
        pending = str(self.job.state).upper() in ("PENDING", "REQUEUED")
        with contextlib.suppress(OSError):  # no scancel here: the job runs on
            sent = None if pending else _scancel(f"--signal={name}", job_id)
            if sent != 0:  # pending, or no process to signal yet: the job goes altogether
                _scancel(job_id)

    def wait(self) -> int:
        looks = 0
        while self._look(force=looks % 5 == 4) is None:
            looks += 1
            time.sleep(POLL_SECONDS)
        assert self.code is not None
        return self.code


def _scancel(*args: str) -> int:
    return subprocess.run(["scancel", *args], capture_output=True, check=False).returncode


class TrialCall:
    """What a trial's job runs (pickled by submitit): ``gitexp run`` and the scheduler's
    signals turned into the ``preempted`` mark."""

    def __init__(self, argv: list[str], cwd: str, commondir: str, stop_file: str) -> None:
        self.argv, self.cwd, self.commondir, self.stop_file = argv, cwd, commondir, stop_file

    def __call__(self) -> int:
        submitit = import_submitit()
        # With a scheduler's job id (SLURM's, 1234_5 for an array task) in the manifest,
        # a trial's log and accounting can be found from its run.
        env = trial_env("slurm", str(submitit.JobEnvironment().job_id))
        # SLURM signals every process of the job: SIGUSR2, which would end gitexp run at
        # once (its default action), is left to this call, which stops the run instead.
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        child = subprocess.Popen(self.argv, cwd=self.cwd, env=env)
        preempted: list[str] = []
        marked = False

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            nonlocal marked
            if signum != signal.SIGINT and not os.path.exists(self.stop_file):
                preempted.append(signal.Signals(signum).name)
                marked = marked or self.mark(child.pid, preempted[0])
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM if signum == signal.SIGUSR2 else signum)

        for signum in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
            signal.signal(signum, on_signal)
        while True:
            try:
                return child.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                # Stopped before gitexp run had made its live folder: mark it once it is
                # there (the run is finalized only after its command ended).
                if preempted and not marked:
                    marked = self.mark(child.pid, preempted[0])

    def mark(self, pid: int, why: str) -> bool:
        """Write the ``preempted`` mark into the live folder of the run ``pid`` records."""
        try:
            folders = list_live(self.commondir)
        except OSError:
            return False
        for live in folders:
            owner = live.read_json("owner.json")
            if isinstance(owner, dict) and owner.get("pid") == pid:
                if owner.get("host") != hostname():
                    continue
                with contextlib.suppress(OSError), open(live.file(PREEMPTED_MARK), "w") as out:
                    out.write(f"{why}\n")
                return True
        return False
