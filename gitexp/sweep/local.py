"""A grid's trials: ``gitexp run`` command lines, started ``-j`` at a time by an executor.

A hand-written pool rather than concurrent.futures: each trial is a job of its own
(a local process, a SLURM job, a Ray task: sweep/executor.py) that must receive the
signals the sweep receives (forwarded, never lost), and a pool of threads waiting on
jobs would not add anything but a layer to forward through.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitexp.record.supervise import terminal_foreground
from gitexp.sweep.executor import Executor, Job, LocalExecutor

if TYPE_CHECKING:
    from types import FrameType


def trial_command(
    group: str, name: str, options: list[str], combo_args: list[str], command: list[str]
) -> list[str]:
    """The ``gitexp run`` command line of one trial."""
    return [
        *(sys.executable, "-m", "gitexp", "run", "--group", group, "--name", name),
        *options,
        *combo_args,
        "--",
        *command,
    ]


def run_local(
    members: list[tuple[str, list[str]]],
    parallel: int,
    on_start: Callable[[int, int, str], None],
    on_done: Callable[[int, int, str, int], None],
    gate: Callable[[str, bool], bool | None] | None = None,
    executor: Executor | None = None,
) -> list[int]:
    """Run the trials' ``gitexp run`` processes, ``parallel`` at once; their exit codes.

    ``executor`` starts each (sweep/executor.py; default: this machine).

    ``on_start(started, total, name)`` and ``on_done(finished, total, name, code)`` let the
    caller report progress.  SIGTERM is forwarded to every running trial, and so is Ctrl-C
    when no terminal delivered it to the whole group; either ends the sweep with
    KeyboardInterrupt once the running trials stopped.

    ``gate(trial, ended)``, when given, holds the other trials back while the first one
    runs: True lets them start, False starts no more, None keeps waiting; a trial that
    ended undecided hands the question to the next one (sweep/probe.py).
    """
    pending = list(members)
    executor = executor or LocalExecutor()
    running: list[tuple[str, Job]] = []
    codes: list[int] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for _name, process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    total, started = len(members), 0
    held = members[0][0] if gate is not None and len(members) > 1 else None
    asked = 0.0
    try:
        while (pending and not stopping) or running:
            if held is not None and all(name != held for name, _argv in pending):
                ended = all(name != held for name, _process in running)
                # Asked twice a second while it runs (the gate reads the listing), and
                # only at its end when one trial at a time runs anyway.
                due = ended or (parallel > 1 and time.monotonic() - asked >= 0.5)
                verdict = gate(held, ended) if gate is not None and due else None
                asked = time.monotonic() if due else asked
                if verdict is False:
                    pending.clear()
                if verdict is not None or not pending:
                    held = None
                elif ended:  # undecided: the next trial is asked in its turn
                    held = pending[0][0]
            limit = 1 if held is not None else parallel
            array = getattr(executor, "submit_array", None)
            if array is not None and held is None and len(pending) > 1 and not stopping:
                # A scheduler (sweep/slurm.py) takes the rest at once as one job array,
                # and keeps -j of its tasks running itself.
                batch, pending = pending, []
                for (name, _argv), job in zip(batch, array(batch), strict=True):
                    started += 1
                    on_start(started, total, name)
                    running.append((name, job))
            while pending and len(running) < limit and not stopping:
                name, argv = pending.pop(0)
                started += 1
                on_start(started, total, name)
                running.append((name, executor.submit(name, argv)))
            time.sleep(0.05)
            for item in list(running):
                code = item[1].poll()
                if code is not None:
                    running.remove(item)
                    codes.append(code)
                    on_done(len(codes), total, item[0], code)
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reached every run already (same process group), but not a
        # scheduler's jobs on other machines.
        if not terminal_foreground() or not executor.here:
            forward(signal.SIGINT, None)
        for _name, process in running:
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stopping:
        raise KeyboardInterrupt
    return codes
