"""Stop means stop: every way of stopping ``gitexp run`` stops its training too, once.

Real processes and real signals.  The training script takes SIGINT, SIGTERM and SIGHUP
one by one (blocked, then ``sigtimedwait``) and writes each, with its sender, to a file:
the count is what the test checks.  After the first one it stays a little longer (to
catch a second copy, were one forwarded), then dies from the signal as an unprepared
script would.  How the processes of a run are arranged: gitexp/record/keeper.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    PREFIX,
    PY,
    reap,
    run_json,
    run_refs,
    subreaper,
    wait_for,
)

COUNTING_CHILD = """
import os, signal, sys, time
log, ready = sys.argv[1:3]
signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # taken one by one below, with the sender
with open(ready, "w") as out:
    out.write(str(os.getpid()))
first = None
deadline = time.monotonic() + 60  # never outlive a failed test for long
while time.monotonic() < deadline:
    info = signal.sigtimedwait(signals, 0.01)
    if info is not None:
        with open(log, "a") as out:
            out.write(f"{signal.Signals(info.si_signo).name} from {info.si_pid}\\n")
        if first is None:
            first = info.si_signo
            deadline = time.monotonic() + LINGER  # a second copy would arrive meanwhile
if first is not None:  # die from it, as a script without handlers would
    signal.signal(first, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    os.kill(os.getpid(), first)
"""
LINGER = 1.5  # seconds the script waits for a second copy of the signal it got

pytestmark = pytest.mark.slow  # each test waits LINGER seconds for a copy that must not come


@pytest.fixture
def child(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The counting script (outside the repository), its signal log and ready file."""
    script = tmp_path / "counting.py"
    script.write_text(COUNTING_CHILD.replace("LINGER", repr(LINGER)))
    yield str(script), tmp_path / "signals.log", tmp_path / "ready"


def received(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped yet has ended too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return True
    return state == b"Z"


def live_owner(repo: Path) -> dict[str, Any] | None:
    """The live owner.json of the only run once it names the command and the keeper."""
    import json

    for path in (repo / ".git" / "gitexp" / "live").glob("*/owner.json"):
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, Any] = json.loads(path.read_text())
            if "child_pid" in data and "keeper_pid" in data:
                return data
    return None


def start(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path], *prefix: str
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``[prefix...] gitexp run -- python counting.py`` in a session of its own (no
    terminal, as in a batch job); returns it once the script waits for signals."""
    script, log, ready = child
    process = subprocess.Popen(
        [*prefix, PY, "-m", "gitexp", "run", "--", PY, script, str(log), str(ready)],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=(tmp_path / "wrapper.out").open("wb"),
        stderr=(tmp_path / "wrapper.err").open("wb"),
        start_new_session=True,
    )
    wait_for(ready.exists, what="the script to start")
    owner = wait_for(lambda: live_owner(repo), what="the wrapper to record its child")
    return process, owner


def final_run(repo: Path) -> dict[str, Any]:
    (run_id,) = run_refs(repo)
    info: dict[str, Any] = run_json(repo, PREFIX + run_id)
    return info


def wait_final(repo: Path) -> dict[str, Any]:
    return wait_for(
        lambda: (info := final_run(repo))["status"] != "running" and info,
        what="the run to be finalized",
    )


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_to_the_process_group_reaches_the_training_once(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path], sig: str
) -> None:
    """``kill -SIG -- -PGID``, a scheduler cancelling a job: the training is in the
    group, gets the signal from the sender, and gitexp run does not forward a copy."""
    wrapper, owner = start(repo, tmp_path, child)
    number = getattr(signal, sig)

    os.killpg(wrapper.pid, number)
    code = wrapper.wait(timeout=30)

    sender = os.getpid()
    assert received(child[1]) == [f"{sig} from {sender}"]
    info = final_run(repo)
    assert (info["status"], info["exit_code"], info["signal"]) == ("interrupted", 128 + number, sig)
    assert code == 128 + number
    assert gone(owner["child_pid"])
    wait_for(lambda: gone(owner["keeper_pid"]), what="the keeper to exit")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_to_gitexp_run_alone_is_forwarded_once(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path], sig: str
) -> None:
    """``kill -SIG <pid of gitexp run>``: the training gets it from gitexp run, once."""
    wrapper, owner = start(repo, tmp_path, child)
    number = getattr(signal, sig)

    os.kill(wrapper.pid, number)
    code = wrapper.wait(timeout=30)

    assert received(child[1]) == [f"{sig} from {wrapper.pid}"]
    info = final_run(repo)
    assert (info["status"], info["exit_code"], info["signal"]) == ("interrupted", 128 + number, sig)
    assert code == 128 + number
    wait_for(lambda: gone(owner["keeper_pid"]), what="the keeper to exit")


def test_timeout_with_sigkill_stops_the_training_and_the_keeper_finalizes(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path]
) -> None:
    """``timeout -s KILL N gitexp run ...``: timeout kills gitexp run, then its whole
    process group; the training dies with it, and the keeper (outside the group) records
    the run as killed by SIGKILL."""
    if shutil.which("timeout") is None:
        pytest.skip("needs coreutils' timeout")
    with subreaper():  # the keeper, orphaned by the kill, comes here to be reaped
        # A long limit, cut short: SIGALRM is timeout's own timer, so sending it is the
        # limit running out now, once the script is known to be running.
        timer, owner = start(repo, tmp_path, child, "timeout", "-s", "KILL", "120")
        try:
            os.kill(timer.pid, signal.SIGALRM)
            timer.wait(timeout=30)
            wait_for(lambda: gone(owner["child_pid"]), what="the training to die")
            info = wait_final(repo)
            reap([owner["keeper_pid"]])  # it exits once the run is final
        finally:
            for pid in (owner["child_pid"], owner["keeper_pid"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    assert received(child[1]) == []  # SIGKILL: no chance to see anything
    assert (info["status"], info["exit_code"], info["signal"]) == ("killed", 137, "SIGKILL")
    assert not (repo / ".git" / "gitexp" / "live" / info["id"]).exists()


def test_timeout_stops_the_training_once(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path]
) -> None:
    """``timeout N gitexp run ...``: timeout sends SIGTERM to gitexp run and then to its
    whole group; the training must see one SIGTERM (timeout's), not a forwarded second."""
    if shutil.which("timeout") is None:
        pytest.skip("needs coreutils' timeout")
    timer, owner = start(repo, tmp_path, child, "timeout", "120")

    os.kill(timer.pid, signal.SIGALRM)  # the limit runs out now (see above)
    code = timer.wait(timeout=30)

    assert received(child[1]) == [f"SIGTERM from {timer.pid}"]
    assert code == 124  # timeout's own code for "timed out"
    info = final_run(repo)
    assert (info["status"], info["exit_code"], info["signal"]) == ("interrupted", 143, "SIGTERM")
    wait_for(lambda: gone(owner["keeper_pid"]), what="the keeper to exit")


def test_sigkill_to_the_process_group_is_finalized_by_the_keeper(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path]
) -> None:
    """``kill -9 -- -PGID``: nothing of the run is left running, and the run is final."""
    with subreaper():
        wrapper, owner = start(repo, tmp_path, child)
        try:
            os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait(timeout=30)
            wait_for(lambda: gone(owner["child_pid"]), what="the training to die")
            info = wait_final(repo)
            reap([owner["keeper_pid"]])
        finally:
            for pid in (owner["child_pid"], owner["keeper_pid"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    assert (info["status"], info["exit_code"], info["signal"]) == ("killed", 137, "SIGKILL")
    listed = subprocess.run(
        [PY, "-m", "gitexp", "ls", "--json"], cwd=repo, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert '"killed"' in listed.stdout


# -- at a terminal -------------------------------------------------------------------------

TMUX_HINT = "needs tmux for a real terminal (apt-get install -y tmux)"


def test_ctrl_c_at_a_terminal_reaches_the_training_once(
    repo: Path, tmp_path: Path, child: tuple[str, Path, Path]
) -> None:
    """Ctrl-C in a terminal signals the whole foreground group: the training gets that
    SIGINT, and gitexp run forwards nothing more."""
    if shutil.which("tmux") is None:
        pytest.skip(TMUX_HINT)
    script, log, ready = child
    socket = tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(socket), "-f", os.devnull]
    # Several arguments: tmux runs gitexp directly in the pane (no shell in between), as
    # the pane's session leader and its terminal's foreground process group.
    started = subprocess.run(
        [
            *tmux,
            *("new-session", "-d", "-x", "120", "-y", "30", "-c", str(repo)),
            *(PY, "-m", "gitexp", "run", "--", PY, script, str(log), str(ready)),
        ],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        pytest.skip(f"tmux cannot start a session here: {started.stderr.strip()}")
    try:
        wait_for(ready.exists, what="the script to start")
        owner = wait_for(lambda: live_owner(repo), what="the wrapper to record its child")
        subprocess.run([*tmux, "send-keys", "C-c"], check=True)
        info = wait_final(repo)
        wait_for(lambda: gone(owner["keeper_pid"]), what="the keeper to exit")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)

    assert len(received(log)) == 1, received(log)
    assert received(log)[0].startswith("SIGINT from ")
    assert (info["status"], info["exit_code"], info["signal"]) == ("interrupted", 130, "SIGINT")
