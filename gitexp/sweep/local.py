"""The local executor: a sweep's trials as ``gitexp run`` processes on this machine.

A hand-written pool rather than concurrent.futures: each trial is a process of its own
that must receive the signals the sweep receives (forwarded, never lost), and a pool of
threads waiting on Popen would not add anything but a layer to forward through.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitexp.record.supervise import terminal_foreground

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
) -> list[int]:
    """Run the trials' ``gitexp run`` processes, ``parallel`` at once; their exit codes.

    ``on_start(started, total, name)`` and ``on_done(finished, total, name, code)`` let the
    caller report progress.  SIGTERM is forwarded to every running trial, and so is Ctrl-C
    when no terminal delivered it to the whole group; either ends the sweep with
    KeyboardInterrupt once the running trials stopped.
    """
    pending = list(members)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    codes: list[int] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for _name, process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    total, started = len(members), 0
    try:
        while pending or running:
            while pending and len(running) < parallel and not stopping:
                name, argv = pending.pop(0)
                started += 1
                on_start(started, total, name)
                running.append((name, subprocess.Popen(argv)))
            time.sleep(0.05)
            for item in list(running):
                code = item[1].poll()
                if code is not None:
                    running.remove(item)
                    codes.append(code)
                    on_done(len(codes), total, item[0], code)
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reached every run already (same process group).
        if not terminal_foreground():
            forward(signal.SIGINT, None)
        for _name, process in running:
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stopping:
        raise KeyboardInterrupt
    return codes
