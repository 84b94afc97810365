"""Faults injected into recorded runs: kills at random moments, signals, a broken output
pipe, torn history files, stale lock files, a full disk.

After every fault the same promises are checked (``check_survived``): ``git fsck`` is
clean and no ref names a missing object; the run is visible; a run whose processes are
all gone is finalized as ``crashed`` by the next gitexp command and listed so by ``gitexp
ls``; and every metric logged more than ``FLUSH_BOUND`` seconds before the fault is in git
(docs/format.md: the live history is flushed every 0.5 s).  The training scripts log
``(step, wall time)`` to a side file of their own, written with ``os.write`` and fsync'd
after each ``gitexp.log``, which is the ground truth to compare with.

Seeded: ``GITEXP_FAULT_SEED`` picks another seed; the seed is printed (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    PY,
    freeze_and_kill,
    fsck_problems,
    git,
    gitexp_cmd,
    history_rows,
    isolated_env,
    kill_leftovers,
    make_repo,
    reap,
    report,
    run_gitexp,
    run_json,
    run_refs,
    subreaper,
    wait_for,
)

from gitexp.model import history as historymod

FLUSH_BOUND = 1.0  # documented: metrics logged more than this before a crash are kept
SEED = int(os.environ.get("GITEXP_FAULT_SEED", "20261127"))
TRIALS = int(os.environ.get("GITEXP_FAULT_TRIALS", "50"))

# The training process: logs a metric every ~20 ms, and its own record of each step.
CHILD = r"""
import os, sys, time
side, seconds = sys.argv[1], float(sys.argv[2])
fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
def note(text):
    os.write(fd, (text + "\n").encode())
    os.fsync(fd)
note("start " + os.environ.get("GITEXP_RUN_ID", "?"))
import gitexp
gitexp.init()
chatty = len(sys.argv) > 3 and sys.argv[3] == "chatty"
deadline = time.monotonic() + seconds
step = 0
while time.monotonic() < deadline:
    gitexp.log({"v": step, "half": step / 2})
    note(f"{step} {time.time()!r}")
    if chatty:
        print(f"step {step} " + "x" * 8000, flush=True)  # > 64 KiB a second: fills any pipe
    elif step % 5 == 0:
        print(f"step {step}", flush=True)
    step += 1
    time.sleep(0.02)
gitexp.finish()
print("child finished", flush=True)
note("done")
"""


@dataclass
class SideLog:
    """What the training process itself wrote down."""

    run_id: str | None = None
    steps: list[tuple[int, float]] = field(default_factory=list)
    done: bool = False

    @classmethod
    def read(cls, path: Path) -> SideLog:
        log = cls()
        if not path.exists():
            return log
        for line in path.read_text().splitlines():
            if line.startswith("start "):
                log.run_id = line.split()[1]
            elif line == "done":
                log.done = True
            elif line:
                step, wall = line.split()
                log.steps.append((int(step), float(wall)))
        return log

    def logged_before(self, moment: float) -> list[int]:
        return [step for step, wall in self.steps if wall <= moment]


def write_child(tmp_path: Path) -> str:
    path = tmp_path / "child.py"  # outside the repository: not part of the snapshot
    path.write_text(CHILD)
    return str(path)


def start_run(
    repo: Path,
    child: str,
    side: Path,
    seconds: float,
    *extra: str,
    name: str | None = None,
    env: dict[str, str] | None = None,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    full_env = dict(os.environ, GITEXP_CHECKPOINT_SECONDS="0.2")
    full_env.update(env or {})
    options = ["--name", name] if name else []
    return subprocess.Popen(
        gitexp_cmd("run", *options, "--", PY, child, str(side), str(seconds), *extra),
        cwd=repo,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,  # no terminal: as in a batch job
    )


def listed(repo: Path) -> dict[str, dict[str, Any]]:
    done = run_gitexp("ls", "--json", "--all", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return {row["id"]: row for row in json.loads(done.stdout)}


def check_survived(
    repo: Path,
    run_id: str,
    side: SideLog,
    fault_time: float,
    statuses: tuple[str, ...],
    rows: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The promises every fault must keep (see the module docstring); returns the row.

    ``rows``: the listing of the first gitexp command after the fault, if already taken.
    """
    if rows is None:
        rows = listed(repo)  # the next gitexp command: finalizes a run whose processes died
    assert run_id in rows, f"run {run_id} is not listed"
    row = rows[run_id]
    assert row["status"] in statuses, row["status"]
    ref = f"refs/gitexp/runs/{run_id}"
    assert run_json(repo, ref)["status"] == row["status"]
    table = run_gitexp("ls", "--all", cwd=repo)
    (line,) = [line for line in table.stdout.splitlines() if line.startswith(run_id[:7])]
    assert row["status"] in line.split()
    history = history_rows(repo, ref)
    steps = [r["_step"] for r in history]
    assert steps == list(range(len(steps))), "steps are not 0, 1, 2, ..."
    assert all(r["v"] == r["_step"] and r["half"] == r["_step"] / 2 for r in history)
    required = side.logged_before(fault_time - FLUSH_BOUND)
    missing = sorted(set(required) - set(steps))
    assert not missing, f"steps logged > {FLUSH_BOUND}s before the fault are lost: {missing}"
    live = repo / ".git" / "gitexp" / "live" / run_id
    if live.exists():
        # Another trial's gitexp command, itself killed while it finalized this run, can
        # leave the folder behind after the final commit; the next command removes it.
        run_gitexp("ls", cwd=repo)
    assert not live.exists(), f"{live} outlived the next two gitexp commands"
    problems = fsck_problems(repo)
    assert not problems, problems
    return row


# -- 50 kills of gitexp run and its child together, at random moments ------------------------

CHILD_SECONDS = 1.3  # the whole life: start-up, 1.3 s training, the final commit
WORKERS = 3  # trials at a time, in one repository


@dataclass
class Trial:
    index: int
    delay: float
    outcome: str = ""
    failure: str = ""
    steps_logged: int = 0
    steps_in_git: int = 0
    stale_lock: bool = False


def _one_trial(repo: Path, child: str, base: Path, trial: Trial) -> None:
    folder = base / f"trial-{trial.index:03d}"  # in every process's command line: the token
    folder.mkdir()
    side_path = folder / "side.log"
    name = f"trial-{trial.index:03d}"
    with (folder / "wrapper.err").open("wb") as err:
        wrapper = start_run(repo, child, side_path, CHILD_SECONDS, name=name, stderr=err)
    try:
        time.sleep(trial.delay)
        fault_time = time.time()
        killed = freeze_and_kill(str(folder))
        wrapper.wait(timeout=10)
        reap(killed - {wrapper.pid})
        side = SideLog.read(side_path)
        trial.steps_logged = len(side.steps)
        rows = listed(repo)  # the first gitexp command after the kill
        named = [row for row in rows.values() if row.get("name") == name]
        if not named:
            # Killed before the run's ref existed: acceptable only if nothing trained.
            assert side.run_id is None and not side.steps, "the child ran but no run exists"
            trial.outcome = "no run (killed before it started)"
            return
        (row,) = named
        if row["status"] in ("running", "crashed?"):
            # The kill landed inside a ref update and left its lock: the next command
            # removes it once it is older than any live update could be.
            lock = repo / ".git" / "refs" / "gitexp" / "runs" / f"{row['id']}.lock"
            assert lock.exists(), f"{row['id']} left {row['status']} without a stale lock"
            old = time.time() - 3600
            os.utime(lock, (old, old))
            trial.stale_lock = True
            rows = listed(repo)
        assert side.run_id in (None, row["id"])
        statuses = ("finished",) if side.done and not killed else ("crashed", "finished")
        row = check_survived(repo, row["id"], side, fault_time, statuses, rows)
        trial.outcome = row["status"]
        trial.steps_in_git = len(history_rows(repo, f"refs/gitexp/runs/{row['id']}"))
    finally:
        kill_leftovers(str(folder))
        with contextlib.suppress(subprocess.TimeoutExpired):
            wrapper.wait(timeout=10)


@pytest.mark.slow
def test_random_kills_of_gitexp_run_and_its_child(tmp_path: Path) -> None:
    """Kill ``gitexp run``, its keeper (the output copier) and the training process together with
    SIGKILL at seeded random moments spread over their whole life (start-up, training,
    checkpoints, the final commit).  Three trials run at a time, in one repository."""
    repo = make_repo(tmp_path / "repo")
    child = write_child(tmp_path)
    # The life of one undisturbed run, start to exit: kills are spread over all of it.
    started = time.monotonic()
    calibration = start_run(repo, child, tmp_path / "calibration.log", CHILD_SECONDS)
    assert calibration.wait(timeout=60) == 0
    window = 1.1 * (time.monotonic() - started)
    rng = random.Random(SEED)
    trials = [Trial(i, rng.uniform(0.0, window)) for i in range(TRIALS)]
    report(
        f"random kills: seed {SEED} (GITEXP_FAULT_SEED), {TRIALS} trials, "
        f"kills between 0 and {window:.2f} s (1.1 x one run's whole life)"
    )
    queue = list(reversed(trials))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                trial = queue.pop()
            try:
                _one_trial(repo, child, tmp_path, trial)
            except Exception as exc:  # collected: all trials run, failures reported together
                err = tmp_path / f"trial-{trial.index:03d}" / "wrapper.err"
                tail = err.read_text()[-1500:] if err.exists() else ""
                trial.failure = f"{type(exc).__name__}: {exc}\n  gitexp run's stderr: {tail}"

    with subreaper():
        workers = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

    failures = [f"trial {t.index} (kill after {t.delay:.3f}s): {t.failure}" for t in trials]
    failures = [f for f, t in zip(failures, trials, strict=True) if t.failure]
    outcomes: dict[str, int] = {}
    for trial in trials:
        outcomes[trial.outcome or "failed"] = outcomes.get(trial.outcome or "failed", 0) + 1
    report(
        f"random kills: outcomes {outcomes}; stale ref locks recovered: "
        f"{sum(t.stale_lock for t in trials)}; steps logged {sum(t.steps_logged for t in trials)}"
        f", in git {sum(t.steps_in_git for t in trials)}"
    )
    assert not failures, f"seed {SEED}:\n" + "\n".join(failures)
    assert outcomes.get("crashed", 0) >= TRIALS // 3  # the kills did land mid-run
    assert len(run_refs(repo)) == TRIALS + 1 - outcomes.get("no run (killed before it started)", 0)
    # A kill between creating the live folder and naming its owner leaves a folder with
    # no run and no owner; it might belong to a recorder on another host sharing this
    # .git, so it is removed once quiet for 120 s (docs/format.md).  Nothing else is left.
    orphans = list((repo / ".git" / "gitexp" / "live").iterdir())
    refs = run_refs(repo)
    for folder in orphans:
        assert folder.name not in refs and not (folder / "owner.json").exists(), folder
        old = time.time() - 600
        for path in (folder, *folder.iterdir()):
            os.utime(path, (old, old))
    listed(repo)
    assert not any((repo / ".git" / "gitexp" / "live").iterdir())
    assert not fsck_problems(repo)  # the quiet repository: no concurrent writer
    report(f"random kills: ownerless live folders removed after 120 s: {len(orphans)}")


# -- one fault at a time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "exit_code"),
    [
        ("SIGKILL to the training process", "killed", 137),
        ("SIGINT to gitexp run", "interrupted", 130),
        ("SIGTERM to gitexp run", "interrupted", 143),
    ],
)
def test_signals_keep_every_flushed_metric(
    tmp_path: Path, fault: str, status: str, exit_code: int
) -> None:
    repo = make_repo(tmp_path / "repo")
    child = write_child(tmp_path)
    side_path = tmp_path / "side.log"
    with subreaper():
        wrapper = start_run(repo, child, side_path, 30)
        try:
            wait_for(lambda: len(SideLog.read(side_path).steps) >= 60, what="60 logged steps")
            fault_time = time.time()
            if fault.startswith("SIGKILL"):
                os.kill(json_owner(repo)["child_pid"], signal.SIGKILL)
            else:
                os.kill(wrapper.pid, getattr(signal, fault.split()[0]))
            code = wrapper.wait(timeout=30)
        finally:
            kill_leftovers(str(side_path))
            with contextlib.suppress(subprocess.TimeoutExpired):
                wrapper.wait(timeout=10)
    side = SideLog.read(side_path)
    assert code == exit_code
    assert not side.done  # the fault, not the end of training, stopped it
    (run_id,) = run_refs(repo)
    check_survived(repo, run_id, side, fault_time, (status,))


def json_owner(repo: Path) -> dict[str, Any]:
    def owner() -> dict[str, Any] | None:
        for path in (repo / ".git" / "gitexp" / "live").glob("*/owner.json"):
            with contextlib.suppress(OSError, ValueError):
                data: dict[str, Any] = json.loads(path.read_text())
                if "child_pid" in data:
                    return data
        return None

    found: dict[str, Any] = wait_for(owner, what="owner.json naming the child")
    return found


@pytest.mark.slow
def test_killed_wrapper_with_a_broken_output_pipe(tmp_path: Path) -> None:
    """``gitexp run | reader`` where both the wrapper and the reader die: the training
    process is not killed by SIGPIPE, its output (more than a pipe holds) still reaches
    the run's log, and the keeper finalizes the run with its real exit status once it
    ends."""
    repo = make_repo(tmp_path / "repo")
    child = write_child(tmp_path)
    side_path = tmp_path / "side.log"
    read_end, write_end = os.pipe()
    with subreaper():
        wrapper = start_run(
            repo, child, side_path, 2.0, "chatty", stdout=write_end, stderr=write_end
        )
        os.close(write_end)
        try:
            wait_for(lambda: len(SideLog.read(side_path).steps) >= 5, what="5 logged steps")
            owner = json_owner(repo)
            child_pid, keeper_pid = owner["child_pid"], owner["keeper_pid"]
            fault_time = time.time()
            os.kill(wrapper.pid, signal.SIGKILL)
            wrapper.wait(timeout=10)
            os.close(read_end)  # the reader goes too: every later write to it is EPIPE
            read_end = -1
            (run_id,) = run_refs(repo)
            assert listed(repo)[run_id]["status"] == "running"  # it still trains
            wait_for(lambda: SideLog.read(side_path).done, what="training to finish")
            reap([child_pid, keeper_pid])  # the keeper exits once the run is final
        finally:
            if read_end >= 0:
                os.close(read_end)
            kill_leftovers(str(side_path))
            with contextlib.suppress(subprocess.TimeoutExpired):
                wrapper.wait(timeout=10)
    side = SideLog.read(side_path)
    assert side.done and len(side.steps) > 50
    row = check_survived(repo, run_id, side, time.time(), ("finished",))
    assert row["metrics"]["v"]["last"] == side.steps[-1][0]  # nothing lost after the kill
    assert fault_time < side.steps[-1][1]
    log = git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/output.log")
    last = side.steps[-1][0]
    assert f"step {last} " in log and "child finished" in log
    assert log.count("step ") == len(side.steps)  # every line, in order, none torn
    assert [int(line.split()[1]) for line in log.splitlines() if line.startswith("step ")] == [
        step for step, _ in side.steps
    ]


# -- torn history files -------------------------------------------------------------------------


def _rows(n: int) -> bytes:
    from gitexp.model import values

    lines = [values.dumps({"loss": 1 / (i + 1), "name": f"é{i}", "_step": i}) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def test_history_cut_at_every_byte_reads_back_to_the_last_whole_record() -> None:
    data = _rows(5)
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    for cut in range(len(data) + 1):
        whole = sum(1 for end in ends if end <= cut)
        history = historymod.History()
        assert history.feed(data[:cut], final=True) == cut
        assert history.rows == whole, cut
        # Fed in two parts (a checkpoint between them), the torn line waits for its end.
        history = historymod.History()
        used = history.feed(data[:cut])
        assert used == (ends[whole - 1] if whole else 0)
        history.feed(data[used:], final=True)
        assert history.rows == 5
        # A chunk read back from git: whole rows, plus the last one only if it is complete.
        parsed = historymod.parse_rows(data[:cut])
        assert [r["_step"] for r in parsed][:whole] == list(range(whole))
        assert len(parsed) in (whole, whole + 1)


def test_torn_live_history_is_recovered_up_to_the_last_whole_record(tmp_path: Path) -> None:
    """A crash in the middle of a history write: the run is finalized with every whole row,
    and a row cut mid-line (even mid-character) is dropped, never half-read."""
    repo = make_repo(tmp_path / "repo")
    child = write_child(tmp_path)
    side_path = tmp_path / "side.log"
    with subreaper():
        wrapper = start_run(repo, child, side_path, 30)
        try:
            wait_for(lambda: len(SideLog.read(side_path).steps) >= 30, what="30 logged steps")
            killed = freeze_and_kill(str(side_path))
            reap(killed)
            wrapper.wait(timeout=10)
        finally:
            kill_leftovers(str(side_path))
    (run_id,) = run_refs(repo)
    live = repo / ".git" / "gitexp" / "live" / run_id / "history.jsonl"
    whole = live.read_bytes()
    rows_before = whole.count(b"\n")
    assert rows_before >= 10
    torn = b'{"v":999999,"half":"\xc3'  # cut inside a two-byte character
    with live.open("ab") as handle:
        handle.write(torn)
    rows = listed(repo)
    assert rows[run_id]["status"] == "crashed"
    history = history_rows(repo, f"refs/gitexp/runs/{run_id}")
    assert len(history) == rows_before
    assert history[-1]["v"] == rows_before - 1
    assert not fsck_problems(repo)


# -- lock files left by a process killed mid-write ------------------------------------------


def test_a_stale_object_lock_left_by_a_killed_writer_blocks_nothing(tmp_path: Path) -> None:
    """A process killed while writing a loose object used to leave ``<sha>.lock`` (dulwich's
    way); every later run writing the same object then waited 10 s and failed (exit 70).
    Objects are now written as git writes them (``tmp_obj_*``, renamed into place)."""
    repo = make_repo(tmp_path / "repo")
    content = b"an untracked file every run snapshots\n"
    (repo / "notes.txt").write_bytes(content)
    sha = git(repo, "hash-object", "--stdin", input=content).strip()
    lock = repo / ".git" / "objects" / sha[:2] / f"{sha[2:]}.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(b"half a zlib stream")
    started = time.monotonic()
    done = run_gitexp("run", "--", PY, "-c", "print('ok')", cwd=repo)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    assert git(repo, "show", f"refs/gitexp/runs/{run_id}:notes.txt").encode() == content
    assert elapsed < 8  # not the 10 s wait for a lock nobody will release
    tmp_objects = list((repo / ".git" / "objects").glob("*/tmp_obj_*"))
    assert tmp_objects == []


def test_a_stale_ref_lock_left_by_a_killed_recorder_is_recovered(tmp_path: Path) -> None:
    """A recorder killed inside a ref update leaves ``refs/gitexp/runs/<id>.lock``: every
    gitexp command used to fail with an internal error (exit 70).  A fresh lock may belong
    to a live writer and is respected (the run is listed as ``crashed?``); once it is older
    than a live update could be (60 s) the next command removes it and finalizes the run."""
    repo = make_repo(tmp_path / "repo")
    child = write_child(tmp_path)
    side_path = tmp_path / "side.log"
    with subreaper():
        wrapper = start_run(repo, child, side_path, 30)
        try:
            wait_for(lambda: len(SideLog.read(side_path).steps) >= 10, what="10 logged steps")
            fault_time = time.time()
            reap(freeze_and_kill(str(side_path)))
            wrapper.wait(timeout=10)
        finally:
            kill_leftovers(str(side_path))
    (run_id,) = run_refs(repo)
    lock = repo / ".git" / "refs" / "gitexp" / "runs" / f"{run_id}.lock"
    lock.write_text("0" * 40 + "\n")

    assert listed(repo)[run_id]["status"] == "crashed?"  # no exit 70; the lock is respected
    assert lock.exists()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    check_survived(repo, run_id, SideLog.read(side_path), fault_time, ("crashed",))
    assert not lock.exists()


def test_a_fresh_lock_on_a_branch_is_never_broken(tmp_path: Path) -> None:
    """Only gitexp's own refs have their stale locks removed; git's rule holds elsewhere."""
    from gitexp.git.repo import GitRepo

    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").strip().encode()
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with GitRepo.discover(str(repo)) as opened:
        assert opened.move_ref(b"refs/heads/main", head, head, b"test") is False
        assert opened.delete_ref(b"refs/heads/main", head) is False
    assert lock.exists()


# -- a live folder cut short at its creation or its removal ------------------------------------


def test_a_live_folder_names_its_owner_from_the_start_and_loses_it_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder without owner.json may belong to another host and stays two minutes; so
    the owner is named with the folder's creation and removed after everything else."""
    from gitexp.record import live as livemod

    folder = livemod.LiveDir(str(tmp_path / "live" / "abc"))
    folder.create()
    owner = json.loads((tmp_path / "live" / "abc" / "owner.json").read_text())
    assert owner["pid"] == os.getpid() and folder.recorder_alive()
    for name in ("run.json", "state.json", "history.jsonl", "output.log"):
        (tmp_path / "live" / "abc" / name).write_text("{}\n")
    removed: list[str] = []
    real_unlink = os.unlink

    def recording_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        removed.append(os.path.basename(os.fsdecode(path)))
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(livemod.os, "unlink", recording_unlink)
    folder.remove()
    assert removed[-1] == "owner.json" and len(removed) == 6  # + heartbeat
    assert not folder.exists()


def test_a_removal_cut_short_is_finished_by_the_next_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    done = run_gitexp("run", "--", PY, "-c", "pass", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait()
    leftover = repo / ".git" / "gitexp" / "live" / run_id
    leftover.mkdir(parents=True)  # what a recorder killed inside remove() leaves
    owner = {"host": socket.gethostname(), "pid": gone.pid, "pid_start": "1"}
    (leftover / "owner.json").write_text(json.dumps(owner))
    (leftover / "history.jsonl").write_text('{"_step": 0, "x": 1}\n')
    rows = listed(repo)
    assert rows[run_id]["status"] == "finished"
    assert not leftover.exists()
    assert not fsck_problems(repo)


# -- a full disk ---------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size: str = "6m") -> Any:
    """A tmpfs of ``size`` mounted at ``where`` (root only; skipped elsewhere)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    chunk = b"\0" * (1 << 16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def _disk_full_run(tmp_path: Path, free_before_end: bool) -> dict[str, Any]:
    """A run whose disk fills up after 10 steps (and is freed after 70, if asked)."""
    disk = tmp_path / "disk"
    out: dict[str, Any] = {}
    with small_disk(disk):
        repo = make_repo(disk / "repo")
        child = write_child(tmp_path)
        side_path = tmp_path / "side.log"  # outside the small disk
        err_path = tmp_path / "wrapper.err"
        with subreaper(), err_path.open("wb") as err:
            wrapper = start_run(repo, child, side_path, 3.0, stderr=err)
            try:
                wait_for(lambda: len(SideLog.read(side_path).steps) >= 10, what="10 steps")
                out["full_time"] = time.time()
                fill(disk / "filler")
                if free_before_end:
                    wait_for(lambda: len(SideLog.read(side_path).steps) >= 70, what="70 steps")
                    (disk / "filler").unlink()
                out["code"] = wrapper.wait(timeout=60)
            finally:
                kill_leftovers(str(side_path))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    wrapper.wait(timeout=10)
        out["side"] = SideLog.read(side_path)
        (run_id,) = run_refs(repo)
        out["stderr"] = err_path.read_text()
        # The disk may still be full: listing needs no space.
        out["listing"] = run_gitexp("ls", "--json", cwd=repo)
        with contextlib.suppress(FileNotFoundError):
            (disk / "filler").unlink()
        after = run_gitexp("ls", "--json", cwd=repo)  # space again: finalizes if needed
        assert after.returncode == 0, after.stderr
        out["row"] = next(r for r in json.loads(after.stdout) if r["id"] == run_id)
        out["history"] = history_rows(repo, f"refs/gitexp/runs/{run_id}")
        out["problems"] = fsck_problems(repo)
    return out


@pytest.mark.slow
def test_disk_full_then_freed_during_a_run_loses_nothing(tmp_path: Path) -> None:
    """The disk fills up while the script trains, then space comes back: tracking warns
    clearly, training goes on untouched, and every row reaches git (the logger keeps the
    rows the disk refused and writes them when it can)."""
    out = _disk_full_run(tmp_path, free_before_end=True)
    assert out["code"] == 0, out["stderr"]
    assert out["side"].done  # training was never stopped by tracking
    assert "No space left on device" in out["stderr"]
    assert "Traceback" not in out["stderr"]
    assert out["row"]["status"] == "finished"
    assert [r["_step"] for r in out["history"]] == [step for step, _ in out["side"].steps]
    assert not out["problems"], out["problems"]


@pytest.fixture(scope="module")
def full_to_the_end(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run whose disk stays full until after the training process ended."""
    base = tmp_path_factory.mktemp("full-to-the-end")
    home = tmp_path_factory.mktemp("home")
    with isolated_env(home):
        return _disk_full_run(base, free_before_end=False)


def test_disk_full_until_the_end_training_finishes_and_nothing_flushed_is_lost(
    full_to_the_end: dict[str, Any],
) -> None:
    out = full_to_the_end
    assert out["side"].done  # training was never stopped by tracking
    assert "No space left on device" in out["stderr"]
    assert not out["problems"], out["problems"]
    assert out["row"]["status"] == "crashed"  # finalized by the first command with space
    steps = {r["_step"] for r in out["history"]}
    assert set(out["side"].logged_before(out["full_time"] - FLUSH_BOUND)) <= steps


def test_disk_full_at_the_end_is_a_clear_error_not_an_internal_one(
    full_to_the_end: dict[str, Any],
) -> None:
    stderr = full_to_the_end["stderr"]
    assert "Traceback" not in stderr
    assert full_to_the_end["code"] != 70
    assert "gitexp: error:" in stderr and "No space left on device" in stderr


def test_commands_still_read_while_the_disk_is_full(full_to_the_end: dict[str, Any]) -> None:
    listing = full_to_the_end["listing"]
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr


def test_disk_full_at_start_is_a_clear_error(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk):
        repo = make_repo(disk / "repo")
        (repo / "new.txt").write_text("untracked, so the snapshot writes a blob\n")
        fill(disk / "filler")
        done = run_gitexp("run", "--", PY, "-c", "print('trained')", cwd=repo)
        assert run_refs(repo) == {}
        assert not any((repo / ".git" / "gitexp" / "live").glob("*"))
    assert "Traceback" not in done.stderr
    assert done.returncode != 70
    assert "No space left on device" in done.stderr
