"""Where a sweep's trials run: the one interface every executor implements.

A trial is always a ``gitexp run`` command line (sweep/local.py builds it); an executor
only decides where that process runs — here (``local``), as a SLURM job through
submitit, as a Ray task — and hands back a :class:`Job` that the sweep polls, signals and
waits on exactly as it would a local process.  So the grid loop (sweep/local.py) and the
search loop (sweep/trials.py) know nothing about schedulers.

An executor tells the trial where it runs through two environment variables, which
record/manifest.py writes into the run's ``hardware.json`` (``host.executor``): its name,
and the scheduler's id of the job (with the node, which the trial's host names itself).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from gitexp.errors import UsageError
from gitexp.model.record import EXECUTOR_ENV, EXECUTOR_JOB_ENV

if TYPE_CHECKING:
    import argparse

__all__ = [
    "EXECUTORS",
    "EXECUTOR_ENV",
    "EXECUTOR_JOB_ENV",
    "Executor",
    "Job",
    "LocalExecutor",
    "make_executor",
    "trial_env",
]

EXECUTORS = ("local", "slurm", "ray")  # gitexp sweep --executor
# Each executor's own options: given with another executor, they are a usage error.
_OPTIONS = {
    "slurm": ("partition", "time", "gpus_per_task", "cpus_per_task", "mem", "slurm_option"),
    "ray": ("address", "resources", "remote"),
}


class Job(Protocol):
    """A running trial, as the sweep sees it: subprocess.Popen's shape."""

    def poll(self) -> int | None:
        """The trial's exit code once it ended, else None; never blocks."""

    def send_signal(self, signum: int) -> None:
        """Deliver ``signum`` to the trial's ``gitexp run`` (SIGTERM stops it)."""

    def wait(self) -> int:
        """Block until the trial ended; its exit code."""


class Executor(Protocol):
    """Starts trials somewhere; ``name`` is what the trials' manifests record.

    ``here``: its trials are child processes in the sweep's process group, which a
    terminal's Ctrl-C reaches directly (else the sweep forwards it to them)."""

    name: str
    here: bool

    def submit(self, name: str, argv: list[str]) -> Job:
        """Start the trial ``name`` running ``argv`` (a ``gitexp run`` command line)."""

    def close(self) -> None:
        """Release what the executor holds (connections, temporary folders)."""


def trial_env(
    executor: str, job_id: str | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a trial started by ``executor`` as job ``job_id``."""
    env = dict(os.environ if base is None else base)
    env[EXECUTOR_ENV] = executor
    if job_id:
        env[EXECUTOR_JOB_ENV] = job_id
    else:
        env.pop(EXECUTOR_JOB_ENV, None)
    return env


class LocalExecutor:
    """Trials as child processes of the sweep, on this machine."""

    name = "local"
    here = True
    job: str | None = None  # a local trial has no scheduler job (an agent's names its claim)

    def submit(self, name: str, argv: list[str]) -> Job:
        return subprocess.Popen(argv, env=trial_env(self.name, self.job))

    def close(self) -> None:
        return None


def make_executor(
    args: argparse.Namespace, say: Callable[[str], None], group: str, commondir: str
) -> Executor:
    """The executor ``gitexp sweep --executor NAME`` chose, built from the sweep's options
    (checked before any trial starts)."""
    choice = getattr(args, "executor", None) or "local"
    for kind, options in _OPTIONS.items():
        given = [name for name in options if getattr(args, name, None)]
        if given and kind != choice:
            flag = "--" + given[0].replace("_", "-")
            if kind == "ray":
                raise UsageError(
                    "--address, --resources and --remote go with --executor ray",
                    "Example: gitexp sweep --executor ray --address 10.0.0.1:6379 "
                    "-p lr=0.1,0.01 -- python train.py",
                )
            raise UsageError(f"{flag} is an option of --executor {kind}")
    if choice == "ray":
        from gitexp.sweep.rayexec import RayExecutor

        return RayExecutor(args.address, args.resources, args.remote, say)
    if choice == "slurm":
        from gitexp.sweep import slurm

        chosen = slurm.options_of(args)
        return slurm.SlurmExecutor(group, chosen, args.parallel, commondir, say)
    return LocalExecutor()
