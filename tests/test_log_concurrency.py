"""Logging loses nothing: ``gitexp.log`` from threads, asyncio tasks and forked workers,
and output.log's order across stdout and stderr (issue 15, point 3).

Every run is a real recorded run, a script started directly or under ``gitexp run``;
the history and the output are read back from git with the ``git`` binary.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_refs
from conftest import gitexp as gitexp_cli

from gitexp.model import values

PY = sys.executable

# Prepended to scripts that report the warnings they saw (all of them, not only the first
# per location), printed as one JSON line on the real stdout at the end.
WARNINGS_PREAMBLE = """\
import json as _json, sys as _sys, warnings as _warnings
_seen = []
_warnings.simplefilter("always")
_warnings.showwarning = lambda message, *args, **kwargs: _seen.append(str(message))
def _report(tag="WARNINGS"):
    _sys.__stdout__.write(tag + "=" + _json.dumps(_seen) + "\\n")
    _sys.__stdout__.flush()
"""


def run_script(
    repo: Path, code: str, *args: str, wrapped: bool, timeout: float = 120
) -> tuple[str, str]:
    """Run ``script.py`` directly or under ``gitexp run``; return the run's id and stdout."""
    (repo / "script.py").write_text(textwrap.dedent(code))
    before = set(run_refs(repo))
    if wrapped:
        done = gitexp_cli("run", "--", PY, "script.py", *args, cwd=repo, timeout=timeout)
    else:
        done = subprocess.run(
            [PY, "script.py", *args], cwd=repo, capture_output=True, text=True, timeout=timeout
        )
    assert done.returncode == 0, done.stdout + done.stderr
    new = set(run_refs(repo)) - before
    assert len(new) == 1, (new, done.stderr)
    return new.pop(), done.stdout


def show(repo: Path, run_id: str, path: str) -> str:
    return git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/{path}")


def history(repo: Path, run_id: str) -> list[dict[str, Any]]:
    listed = git(repo, "ls-tree", "--name-only", f"refs/gitexp/runs/{run_id}", ".gitexp/history/")
    rows = []
    for path in sorted(listed.split()):
        name = path.rsplit("/", 1)[1]
        rows.extend(values.loads(line) for line in show(repo, run_id, f"history/{name}").split())
    return rows


def user_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def warnings_in(stdout: str, tag: str = "WARNINGS") -> list[list[str]]:
    prefix = tag + "="
    return [
        json.loads(line[len(prefix) :]) for line in stdout.splitlines() if line.startswith(prefix)
    ]


# -- threads ------------------------------------------------------------------------------------

THREADS_SCRIPT = """
import sys, threading, gitexp

threads, calls, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.setswitchinterval(1e-6)  # threads switch inside log() as they would without a GIL
gitexp.init(name="threads")
start = threading.Barrier(threads)

def work(t):
    start.wait()
    for i in range(calls):
        if mode == "commit":
            gitexp.log({f"t{t}": i})
        else:  # wandb's commit=False: the next committing call completes the row
            gitexp.log({f"a{t}": i}, commit=False)
            gitexp.log({f"b{t}": i})

workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
gitexp.finish()
"""


def check_committed_rows(rows: list[dict[str, Any]], threads: int, calls: int) -> None:
    """One row per call, steps 0..N-1 in order, each call's value once, in its thread's order."""
    assert len(rows) == threads * calls
    assert [row["_step"] for row in rows] == list(range(threads * calls))
    seen: dict[str, list[int]] = {}
    for row in rows:
        keys = user_keys(row)
        assert len(keys) == 1, row  # no two calls merged into one row
        ((key, value),) = keys.items()
        seen.setdefault(key, []).append(value)
    assert seen == {f"t{t}": list(range(calls)) for t in range(threads)}


def check_merged_rows(rows: list[dict[str, Any]], threads: int, calls: int) -> None:
    """commit=False: each committing call completes one row; no value lost or doubled,
    and a thread's open value lands in its own committing row or an earlier one."""
    assert len(rows) == threads * calls
    assert [row["_step"] for row in rows] == list(range(threads * calls))
    where: dict[tuple[str, int], int] = {}
    for row in rows:
        keys = user_keys(row)
        committing = [k for k in keys if k.startswith("b")]
        assert len(committing) == 1, row
        for key, value in keys.items():
            assert (key, value) not in where, row
            where[(key, value)] = row["_step"]
    expected = {(f"{kind}{t}", i) for kind in "ab" for t in range(threads) for i in range(calls)}
    assert set(where) == expected
    for t in range(threads):
        for i in range(calls):
            assert where[(f"a{t}", i)] <= where[(f"b{t}", i)]


@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_threads_log_every_call_into_its_own_step(repo: Path, wrapped: bool) -> None:
    run_id, _stdout = run_script(repo, THREADS_SCRIPT, "2", "2000", "commit", wrapped=wrapped)
    check_committed_rows(history(repo, run_id), 2, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [2, 4, 8])
@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_many_threads_times_10000_calls_lose_nothing(
    repo: Path, wrapped: bool, threads: int
) -> None:
    run_id, _stdout = run_script(
        repo, THREADS_SCRIPT, str(threads), "10000", "commit", wrapped=wrapped
    )
    check_committed_rows(history(repo, run_id), threads, 10_000)
    metrics = values.loads(show(repo, run_id, "metrics.json"))
    assert metrics["steps"] == threads * 10_000


@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_threads_with_commit_false_merge_into_the_next_committed_row(
    repo: Path, wrapped: bool
) -> None:
    run_id, _stdout = run_script(repo, THREADS_SCRIPT, "4", "1000", "merge", wrapped=wrapped)
    check_merged_rows(history(repo, run_id), 4, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [2, 4, 8])
def test_many_threads_with_commit_false_lose_nothing(repo: Path, threads: int) -> None:
    run_id, _stdout = run_script(
        repo, THREADS_SCRIPT, str(threads), "10000", "merge", wrapped=False
    )
    check_merged_rows(history(repo, run_id), threads, 10_000)


def test_threads_with_explicit_steps_never_mix_steps(repo: Path) -> None:
    # Each thread logs steps 0, 1, 2, ... of its own: rows of one step merge, a step that
    # another thread already left behind is dropped (with one warning), never misfiled.
    code = WARNINGS_PREAMBLE + textwrap.dedent(
        """
        import threading, gitexp
        gitexp.init(name="steps")
        start = threading.Barrier(4)
        def work(t):
            start.wait()
            for step in range(3000):
                gitexp.log({f"t{t}": step, "same": step}, step=step)
        workers = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        gitexp.finish()
        _report()
        """
    )
    run_id, stdout = run_script(repo, code, wrapped=False)
    rows = history(repo, run_id)
    steps = [row["_step"] for row in rows]
    assert steps == sorted(set(steps))
    assert steps[-1] == 2999
    for row in rows:
        assert set(user_keys(row).values()) == {row["_step"]}, row
    (seen,) = warnings_in(stdout)
    assert len([w for w in seen if "steps never go backwards" in w]) <= 1


def test_log_from_a_signal_handler_inside_log_neither_deadlocks_nor_loses_rows(
    repo: Path,
) -> None:
    # A timer signal lands often inside the main loop's own log(): the handler's call is
    # queued and applied when the interrupted call is done.
    code = """
    import signal, gitexp
    gitexp.init(name="signals")
    handled = 0
    def handler(signum, frame):
        global handled
        handled += 1
        gitexp.log({"signal": handled})
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    for i in range(30000):
        gitexp.log({"main": i})
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    gitexp.finish()
    print("HANDLED", handled)
    """
    run_id, stdout = run_script(repo, code, wrapped=False)
    handled = int(stdout.split("HANDLED")[1].split()[0])
    assert handled > 0
    rows = history(repo, run_id)
    assert [row["_step"] for row in rows] == list(range(30000 + handled))
    assert [row["main"] for row in rows if "main" in row] == list(range(30000))
    # A handler may itself be interrupted by the next signal before it logs: each value
    # once, in whatever order the handlers called log().
    assert sorted(row["signal"] for row in rows if "signal" in row) == list(range(1, handled + 1))
    assert all(len(user_keys(row)) == 1 for row in rows)


# -- asyncio -----------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_asyncio_tasks_log_every_call(repo: Path, wrapped: bool) -> None:
    code = """
    import asyncio, gitexp

    async def work(t):
        for i in range(500):
            gitexp.log({f"a{t}": i}, commit=False)
            await asyncio.sleep(0)  # another task logs in between
            gitexp.log({f"b{t}": i})
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(work(t) for t in range(8)))

    gitexp.init(name="tasks")
    asyncio.run(main())
    gitexp.finish()
    """
    run_id, _stdout = run_script(repo, code, wrapped=wrapped)
    check_merged_rows(history(repo, run_id), 8, 500)


# -- forked and spawned workers ----------------------------------------------------------------

FORK_SCRIPT = (
    WARNINGS_PREAMBLE
    + """
import os, gitexp
gitexp.init(name="forky")
gitexp.log({"parent": 0})
children = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        _seen.clear()  # this process's own warnings
        for i in range(3):
            gitexp.log({"child": i})
        grandchild = os.fork()
        if grandchild == 0:
            _seen.clear()
            gitexp.log({"grandchild": 1})
            gitexp.log({"grandchild": 2})
            _report("GRANDCHILD")
            os._exit(0)
        os.waitpid(grandchild, 0)
        _report("CHILD")
        os._exit(0)  # as a multiprocessing worker ends
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
gitexp.log({"parent": 1})
gitexp.finish()
_report("PARENT")
"""
)


@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_forked_worker_log_warns_once_per_process(repo: Path, wrapped: bool) -> None:
    run_id, stdout = run_script(repo, FORK_SCRIPT, wrapped=wrapped)
    children = warnings_in(stdout, "CHILD")
    grandchildren = warnings_in(stdout, "GRANDCHILD")
    assert len(children) == 2 and len(grandchildren) == 2, stdout
    for seen in children + grandchildren:
        assert len(seen) == 1, seen
        assert "forked process" in seen[0] and "is not recorded" in seen[0]
        assert "log from the main process" in seen[0].lower()
    (parent,) = warnings_in(stdout, "PARENT")
    assert not [w for w in parent if "forked" in w], parent
    rows = history(repo, run_id)
    assert [user_keys(row) for row in rows] == [{"parent": 0}, {"parent": 1}]


def test_spawned_worker_log_warns_instead_of_raising(repo: Path) -> None:
    code = WARNINGS_PREAMBLE + textwrap.dedent(
        """
        import multiprocessing, gitexp

        def work(n):
            gitexp.log({"worker": n})
            gitexp.log({"worker": n + 1})
            _report("WORKER")
            return n

        if __name__ == "__main__":
            gitexp.init(name="spawny")
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                results = pool.map(work, [10])
            gitexp.log({"result": results[0]})
            gitexp.finish()
        """
    )
    run_id, stdout = run_script(repo, code, wrapped=False)
    (seen,) = warnings_in(stdout, "WORKER")
    assert len(seen) == 1 and "worker process" in seen[0] and "is not recorded" in seen[0]
    assert [user_keys(row) for row in history(repo, run_id)] == [{"result": 10}]


# -- output.log: the order of stdout and stderr ------------------------------------------------

# The script prints lines alternately to stdout and stderr.  Under ``gitexp run`` it waits,
# after each write, until the wrapper has read the pipe (FIONREAD on the pipe is 0): the
# order the wrapper sees is then the printed order, which output.log must keep.
INTERLEAVED_SCRIPT = """
import fcntl, os, struct, sys, termios, time, gitexp

gitexp.init(name="interleaved")

def unread(stream):
    try:
        got = fcntl.ioctl(stream.fileno(), termios.FIONREAD, struct.pack("i", 0))
    except OSError:
        return 0  # not a pipe (a directly run script's own capture is in-process)
    return struct.unpack("i", got)[0]

def emit(stream, text):
    stream.write(text)
    stream.flush()
    while unread(stream):
        time.sleep(0.001)

for i in range(20):
    if i % 2 == 0:
        emit(sys.stdout, f"line {i} on out\\n")
    else:
        emit(sys.stderr, f"line {i} on err\\n")
emit(sys.stdout, "half ")          # a line in pieces: the other stream's line comes first
emit(sys.stderr, "whole err\\n")
emit(sys.stdout, "of a line\\n")
emit(sys.stderr, "last\\n")
gitexp.finish()
"""


@pytest.mark.parametrize("wrapped", [False, True], ids=["script", "gitexp-run"])
def test_output_log_keeps_the_printed_order_of_stdout_and_stderr(repo: Path, wrapped: bool) -> None:
    run_id, _stdout = run_script(repo, INTERLEAVED_SCRIPT, wrapped=wrapped)
    lines = [
        line for line in show(repo, run_id, "output.log").splitlines() if "gitexp:" not in line
    ]
    printed = [f"line {i} on {'out' if i % 2 == 0 else 'err'}" for i in range(20)]
    assert lines == [*printed, "whole err", "half of a line", "last"]


def test_threads_printing_at_once_keep_every_line_whole(repo: Path) -> None:
    # Four threads write whole lines, two to each stream; then one thread per stream writes
    # its lines in pieces (pieces of two threads on one stream mix on the terminal too).
    code = """
    import sys, threading, gitexp
    gitexp.init(name="printers")

    def whole(t, stream):
        for i in range(2000):
            stream.write(f"whole {t} line {i}\\n")

    def pieces(t, stream):
        for i in range(2000):
            stream.write(f"pieces {t} ")
            stream.write(f"line {i}")
            stream.write("\\n")

    for target, count in ((whole, 4), (pieces, 2)):
        workers = [
            threading.Thread(target=target, args=(t, (sys.stdout, sys.stderr)[t % 2]))
            for t in range(count)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    gitexp.finish()
    """
    run_id, _stdout = run_script(repo, code, wrapped=False)
    lines = [
        line for line in show(repo, run_id, "output.log").splitlines() if "gitexp:" not in line
    ]
    assert len(lines) == 6 * 2000
    for kind, count in (("whole", 4), ("pieces", 2)):
        for t in range(count):
            mine = [line for line in lines if line.startswith(f"{kind} {t} ")]
            assert mine == [f"{kind} {t} line {i}" for i in range(2000)]


def test_forked_child_output_reaches_the_log_once(repo: Path) -> None:
    # A directly run script: the child inherits the capture; its lines must reach the log
    # although it ends with os._exit, and the parent's buffered lines must not be doubled.
    code = """
    import os, gitexp
    gitexp.init(name="forked-output")
    for i in range(3):
        print(f"parent before {i}")
    pid = os.fork()
    if pid == 0:
        print("child says hello")
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent after")
    gitexp.finish()
    """
    run_id, _stdout = run_script(repo, code, wrapped=False)
    lines = [
        line for line in show(repo, run_id, "output.log").splitlines() if "gitexp:" not in line
    ]
    expected = ["parent before 0", "parent before 1", "parent before 2"]
    assert lines == [*expected, "child says hello", "parent after"]
