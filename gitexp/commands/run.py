"""``gitexp run``: record a command as a run.

The wrapper snapshots the workspace, creates the run's ref (status ``running``), starts
the command with its output copied to the terminal and the run's log, commits
checkpoints while it runs, and finalizes the run with the command's exit status.  It
exits with the command's exit code (128 + N when the command died from signal N).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from gitexp.adapters.git import GitRepo
from gitexp.api.session import ENV_CONFIG, ENV_LIVE_DIR, ENV_RUN_ID
from gitexp.cli_support import add_example, say
from gitexp.core import config as configmod
from gitexp.core.record import FAILED, FINISHED, INTERRUPTED, KILLED
from gitexp.core.recorder import Recorder, recover_stale_runs
from gitexp.core.starting import collect_slow_facts, start_background, start_run
from gitexp.core.tee import start_tee
from gitexp.errors import UsageError

EXIT_COMMAND_NOT_FOUND = 127
TEE_GRACE_SECONDS = 2.0  # how long to wait for output after the command exits


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="record a command as a run",
        description="Run CMD and record it as a run: the code as it is now (uncommitted and "
        "untracked files included), the config, the metrics, the output and the environment, "
        "as one commit on refs/gitexp/runs/<id>. Exits with CMD's exit code.",
    )
    parser.add_argument("--name", help="a human-readable name (generated when not given)")
    parser.add_argument("--config", metavar="FILE", help="a YAML or JSON config file")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a config value (typed: 0.01, true, [1,2]; dotted keys nest); repeatable",
    )
    parser.add_argument("--tag", action="append", default=[], help="a tag; repeatable")
    parser.add_argument("--note", help="a note kept with the run")
    parser.add_argument("--group", help="a group the run belongs to")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="keep an untracked file that looks like a secret or is large; repeatable",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    add_example(parser, "gitexp run -p lr=0.01 --tag baseline -- python train.py --epochs 3")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(
            "missing the command to run after --",
            "Example: gitexp run -p lr=0.01 -- python train.py",
        )
    overrides = [configmod.parse_override(text) for text in args.param]
    with GitRepo.discover() as repo:
        file_config = configmod.load_config_file(args.config) if args.config else None
        config = configmod.resolve(None, file_config, overrides)
        recover_stale_runs(repo)
        cli_fields = tuple(
            field
            for field, given in (("name", args.name), ("tags", args.tag), ("notes", args.note))
            if given
        )
        recorder, snapshot = start_run(
            repo,
            command=command,
            config=config,
            source="cli",
            name=args.name,
            tags=args.tag,
            notes=args.note,
            group=args.group,
            include=frozenset(args.include),
            cli_fields=(*cli_fields, "group") if args.group else cli_fields,
            warn=lambda message: say(f"warning: {message}"),
        )
        return _supervise(recorder, command, config, snapshot.skipped)


def _supervise(recorder: Recorder, command: list[str], config: dict[str, Any], skipped: Any) -> int:
    live = recorder.live
    live.write_json("params.json", config)
    env = dict(os.environ)
    env[ENV_RUN_ID] = recorder.info.id
    env[ENV_LIVE_DIR] = live.path
    env[ENV_CONFIG] = live.file("params.json")
    env.setdefault("PYTHONUNBUFFERED", "1")  # output reaches the log as it is printed
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        child = subprocess.Popen(command, stdout=out_write, stderr=err_write, env=env)
    except OSError as exc:
        for fd in (out_read, out_write, err_read, err_write):
            os.close(fd)
        with open(live.file("output.log"), "a", encoding="utf-8") as log:
            log.write(f"gitexp: could not start {command[0]}: {exc.strerror}\n")
        recorder.finalize(FAILED, EXIT_COMMAND_NOT_FOUND)
        say(f"error: could not start {command[0]!r}: {exc.strerror}")
        say("  Check the command after -- (is it installed and on PATH?).")
        return EXIT_COMMAND_NOT_FOUND
    tee_pid = start_tee(
        {out_read: sys.stdout.fileno(), err_read: sys.stderr.fileno()},
        live.file("output.log"),
        close=(out_write, err_write),
    )
    for fd in (out_read, out_write, err_read, err_write):
        os.close(fd)
    live.claim(child_pid=child.pid)
    signals = _SignalState(child)
    start_background(lambda: collect_slow_facts(recorder, skipped), "gitexp-manifest")
    stop = threading.Event()
    start_background(lambda: _checkpoints(recorder, stop), "gitexp-checkpoint")
    returncode = child.wait()
    stop.set()
    _wait_for_tee(tee_pid)
    status, exit_code, signal_name = _outcome(returncode, signals.interrupted)
    recorder.finalize(status, exit_code, signal_name)
    info = recorder.info
    say(
        f"run {info.name} ({info.id[:7]}) {status} in {info.duration or 0:.1f}s: "
        f"refs/gitexp/runs/{info.id}"
    )
    return exit_code


def _checkpoints(recorder: Recorder, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            recorder.checkpoint()
        except Exception as exc:
            say(f"warning: could not write a checkpoint: {exc}")


def _wait_for_tee(pid: int) -> None:
    deadline = time.monotonic() + TEE_GRACE_SECONDS
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.005)
    # Something the command started still holds its output; the copier goes on alone.


def _outcome(returncode: int, interrupted: bool) -> tuple[str, int, str | None]:
    if returncode < 0:
        signum = -returncode
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else None
        if interrupted or signum in (signal.SIGINT, signal.SIGTERM):
            return INTERRUPTED, 128 + signum, name
        return KILLED, 128 + signum, name
    if interrupted:
        return INTERRUPTED, returncode, None
    return (FINISHED if returncode == 0 else FAILED), returncode, None


class _SignalState:
    """Ctrl-C and SIGTERM: let the command stop, then finalize the run as interrupted.

    A Ctrl-C typed at the terminal reaches the command by itself (same process group);
    gitexp forwards a signal only when it did not come from the terminal, so a script
    never sees the same Ctrl-C twice.
    """

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.interrupted = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.interrupted = True
        if signum == signal.SIGINT and _terminal_sent_it():
            return
        with contextlib.suppress(ProcessLookupError):
            self.child.send_signal(signum)


def _terminal_sent_it() -> bool:
    """True when this process is in its terminal's foreground group (Ctrl-C hit us all)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
