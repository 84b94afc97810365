"""``gitexp run`` end to end: exit codes, output, signals, config, live checkpoints,
crash recovery, bad input and awkward repositories.

Every test runs the real command line in its own process against a real repository and
reads the result back with the git binary.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, gitexp, run_refs

PY = sys.executable
PREFIX = "refs/gitexp/runs/"


# -- helpers ---------------------------------------------------------------------------


def record(
    repo: Path,
    *options: str,
    code: str = "pass",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """``gitexp run [options] -- python -c CODE``; the new run's ref and the process."""
    before = set(run_refs(repo))
    done = gitexp("run", *options, "--", PY, "-c", code, cwd=cwd or repo, env=env)
    new = set(run_refs(repo)) - before
    assert len(new) == 1, (new, done.stderr)
    return PREFIX + new.pop(), done


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def run_json(repo: Path, ref: str) -> dict[str, Any]:
    return json.loads(show(repo, ref, ".gitexp/run.json"))


def row(repo: Path, commit: str) -> dict[str, Any]:
    """The ``gitexp-run: {...}`` listing row in a run commit's message."""
    message = git(repo, "log", "-1", "--format=%B", commit)
    lines = [line for line in message.splitlines() if line.startswith("gitexp-run: ")]
    assert len(lines) == 1, message
    return json.loads(lines[0][len("gitexp-run: ") :])


def history_rows(repo: Path, ref: str) -> list[dict[str, Any]]:
    names = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/history").split()
    rows = []
    for name in sorted(names):
        rows += [json.loads(line) for line in show(repo, ref, name).splitlines()]
    return rows


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def live_dir(repo: Path, run_id: str) -> Path:
    return repo / ".git" / "gitexp" / "live" / run_id


def only_run_id(repo: Path) -> str | None:
    refs = run_refs(repo)
    assert len(refs) <= 1, refs
    return next(iter(refs), None)


def owner(repo: Path) -> dict[str, Any] | None:
    """The live owner.json of the only run, once it names the training process."""
    run_id = only_run_id(repo)
    if run_id is None:
        return None
    try:
        data = json.loads((live_dir(repo, run_id) / "owner.json").read_text())
    except (OSError, ValueError):
        return None
    return data if "child_pid" in data else None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def reap(pid: int, timeout: float = 20) -> None:
    """Wait for a process this test adopted (see ``subreaper``) and collect its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not ours (already reaped, or adopted by init)
        if done:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not exit")


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants, so a killed wrapper's children can be reaped here.

    Without it they go to PID 1, which in some containers never reaps them.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux process control")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        pytest.skip("cannot become a child subreaper")
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)


def start_wrapper(
    repo: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.Popen(
        [PY, "-m", "gitexp", "run", *args],
        cwd=repo,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=(tmp_path / "wrapper.out").open("wb"),
        stderr=(tmp_path / "wrapper.err").open("wb"),
        **popen,
    )


def write_script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name  # outside the repository: not part of the snapshot
    path.write_text(text)
    return str(path)


def repo_state(repo: Path) -> tuple[str, str, bool]:
    """What a failed command must leave as it was: refs, workspace status, objects."""
    refs = git(repo, "for-each-ref")
    status = git(repo, "status", "--porcelain", "--ignored")
    objects = git(repo, "count-objects", "-v")
    return refs + objects, status, (repo / ".git" / "gitexp").exists()


def assert_fsck_clean(repo: Path) -> None:
    done = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# -- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [(0, "finished"), (3, "failed")])
def test_exit_code_passes_through(repo: Path, code: int, status: str) -> None:
    ref, done = record(repo, code=f"import sys; sys.exit({code})")

    assert done.returncode == code
    info = run_json(repo, ref)
    assert (info["status"], info["exit_code"], info["signal"]) == (status, code, None)
    assert info["end"] >= info["start"]
    assert row(repo, ref)["status"] == status
    assert row(repo, ref)["exit_code"] == code


def test_command_killed_by_a_signal(repo: Path) -> None:
    ref, done = record(repo, code="import os; os.kill(os.getpid(), 9)")

    assert done.returncode == 137
    info = run_json(repo, ref)
    assert (info["status"], info["exit_code"], info["signal"]) == ("killed", 137, "SIGKILL")
    assert row(repo, ref)["status"] == "killed"


# -- output ----------------------------------------------------------------------------


def test_output_reaches_the_terminal_and_the_log(repo: Path) -> None:
    code = (
        "import sys\n"
        "print('out line 1')\n"
        "print('err line 1', file=sys.stderr)\n"
        "print('out line 2: héllo ✓')\n"
        "sys.stderr.write('err line 2\\n')\n"
    )
    ref, done = record(repo, code=code)

    assert done.returncode == 0
    assert done.stdout == "out line 1\nout line 2: héllo ✓\n"  # gitexp's own messages: stderr
    assert "err line 1\n" in done.stderr and "err line 2\n" in done.stderr
    assert "out line" not in done.stderr
    log = show(repo, ref, ".gitexp/output.log")
    for line in ("out line 1", "out line 2: héllo ✓", "err line 1", "err line 2"):
        assert line + "\n" in log


# -- signals sent to gitexp run ------------------------------------------------------------

SIGNAL_CHILD = """
import os, signal, sys, time
sig = getattr(signal, sys.argv[1])
count_file, ready_file, handle = sys.argv[2], sys.argv[3], sys.argv[4] == "handle"
count = 0
def on_signal(signum, frame):
    global count
    count += 1
if handle:
    signal.signal(sig, on_signal)
open(ready_file, "w").close()
deadline = time.monotonic() + 30
while count == 0 and time.monotonic() < deadline:
    print("tick", flush=True)
    time.sleep(0.05)
time.sleep(0.5)  # a second delivery of the signal would be counted here
with open(count_file, "w") as out:
    out.write(str(count))
print("child finished cleanly", flush=True)
"""


def _start_signal_child(
    repo: Path, tmp_path: Path, sig: str, handle: bool
) -> tuple[subprocess.Popen[bytes], Path]:
    script = write_script(tmp_path, "signal_child.py", SIGNAL_CHILD)
    count_file, ready = tmp_path / "count", tmp_path / "ready"
    how = "handle" if handle else "default"
    wrapper = start_wrapper(repo, tmp_path, "--", PY, script, sig, str(count_file), str(ready), how)
    wait_for(ready.exists, what="the child to start")
    # owner.json names the child only once the wrapper's signal handlers are installed.
    wait_for(lambda: owner(repo), what="the wrapper to record its child")
    return wrapper, count_file


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_to_wrapper_reaches_the_command_once(repo: Path, tmp_path: Path, sig: str) -> None:
    wrapper, count_file = _start_signal_child(repo, tmp_path, sig, handle=True)

    os.kill(wrapper.pid, getattr(signal, sig))
    code = wrapper.wait(timeout=30)

    assert count_file.read_text() == "1"  # forwarded exactly once
    ref = PREFIX + only_run_id(repo)
    info = run_json(repo, ref)
    assert info["status"] == "interrupted"
    assert code == info["exit_code"] == 0  # the command's own exit code
    assert "child finished cleanly" in show(repo, ref, ".gitexp/output.log")
    assert not live_dir(repo, info["id"]).exists()


@pytest.mark.parametrize(("sig", "number"), [("SIGINT", 2), ("SIGTERM", 15), ("SIGHUP", 1)])
def test_signal_to_wrapper_with_default_handling(
    repo: Path, tmp_path: Path, sig: str, number: int
) -> None:
    wrapper, count_file = _start_signal_child(repo, tmp_path, sig, handle=False)

    os.kill(wrapper.pid, getattr(signal, sig))
    code = wrapper.wait(timeout=30)

    assert not count_file.exists()  # the command was stopped by the signal
    info = run_json(repo, PREFIX + only_run_id(repo))
    assert info["status"] == "interrupted"
    assert code == info["exit_code"] == 128 + number
    assert info["signal"] == sig


GROUP_SIGNAL_CHILD = """
import os, signal, sys, time
log, ready, stop = sys.argv[1:4]
signals = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # taken one by one below, with the sender
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    info = signal.sigtimedwait(signals, 0.01)
    if info is not None:
        with open(log, "a") as out:
            out.write(f"{signal.Signals(info.si_signo).name} from {info.si_pid}\\n")
"""


@pytest.mark.slow
def test_signal_to_the_process_group_reaches_the_command_once(repo: Path, tmp_path: Path) -> None:
    """Without a terminal (kill -TERM -PGID, a CI runner or batch system cancelling a job)
    the signal reaches gitexp run and the command, yet the command must see it once."""
    script = write_script(tmp_path, "group_child.py", GROUP_SIGNAL_CHILD)
    log, ready, stop = tmp_path / "signals.log", tmp_path / "ready", tmp_path / "stop"
    wrapper = start_wrapper(
        repo,
        tmp_path,
        "--",
        PY,
        script,
        str(log),
        str(ready),
        str(stop),
        start_new_session=True,  # a process group of its own, no controlling terminal
    )

    def received() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    sent = ["SIGINT", "SIGTERM", "SIGINT", "SIGTERM"]
    try:
        wait_for(ready.exists, what="the child to start")
        wait_for(lambda: owner(repo), what="the wrapper to record its child")
        for name in sent:
            before = len(received())
            # Hold the wrapper while the group gets the signal, so that the command takes
            # its own copy before any forwarded one (two pending copies would merge).
            os.kill(wrapper.pid, signal.SIGSTOP)
            try:
                os.killpg(wrapper.pid, getattr(signal, name))
                with contextlib.suppress(AssertionError):
                    wait_for(lambda: len(received()) > before, timeout=0.5)  # noqa: B023
            finally:
                os.kill(wrapper.pid, signal.SIGCONT)
            with contextlib.suppress(AssertionError):
                wait_for(lambda: len(received()) > before + 1, timeout=0.5)  # noqa: B023
    finally:
        stop.touch()
        wrapper.wait(timeout=30)

    assert run_json(repo, PREFIX + only_run_id(repo))["status"] == "interrupted"
    assert len(received()) <= len(sent), received()


# -- config ------------------------------------------------------------------------------

CONFIG_CHILD = """
import json, os, sys
import gitexp
with open(os.environ["GITEXP_CONFIG"]) as handle:
    from_env = json.load(handle)
run = gitexp.init(config={"lr": 0.1, "epochs": 3, "batch": 16, "model": {"depth": 1, "width": 8}})
seen = {"env": from_env, "run": run.config.as_dict(), "module": dict(gitexp.config.items())}
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
gitexp.finish()
"""


def test_config_file_and_overrides(repo: Path, tmp_path: Path) -> None:
    config_file = tmp_path / "experiment.yaml"
    config_file.write_text(
        "lr: 0.05\nbatch: 32\nmodel:\n  depth: 2\n  name: resnet\nlayers: [8, 8, 8]\n"
    )
    script = write_script(tmp_path, "config_child.py", CONFIG_CHILD)
    seen_file = tmp_path / "seen.json"
    before = set(run_refs(repo))

    done = gitexp(
        "run",
        "--config",
        str(config_file),
        "-p",
        "lr=0.01",
        "-p",
        "model.depth=4",
        "-p",
        "flag=true",
        "-p",
        "layers=[1,2]",
        "--",
        PY,
        script,
        str(seen_file),
        cwd=repo,
    )

    assert done.returncode == 0, done.stderr
    (run_id,) = set(run_refs(repo)) - before
    seen = json.loads(seen_file.read_text())
    # GITEXP_CONFIG: the file and the -p overrides, resolved by the wrapper.
    assert seen["env"] == {
        "lr": 0.01,
        "batch": 32,
        "model": {"depth": 4, "name": "resnet"},
        "layers": [1, 2],
        "flag": True,
    }
    # In the script: -p over --config over the defaults given to gitexp.init.
    expected = {
        "lr": 0.01,
        "epochs": 3,
        "batch": 32,
        "model": {"depth": 4, "width": 8, "name": "resnet"},
        "layers": [1, 2],
        "flag": True,
    }
    assert seen["run"] == expected
    assert seen["module"] == expected
    stored = yaml.safe_load(show(repo, PREFIX + run_id, ".gitexp/config.yaml"))
    assert stored == expected
    assert type(stored["lr"]) is float and type(stored["model"]["depth"]) is int
    assert stored["flag"] is True and stored["layers"] == [1, 2]
    assert row(repo, PREFIX + run_id)["config"]["model.depth"] == 4


# -- live checkpoints --------------------------------------------------------------------

LOG_THEN_WAIT = """
import os, sys, time
import gitexp
gitexp.init()
for step in range(5):
    gitexp.log({"loss": 1.0 / (step + 1), "step_seen": step})
print("logged", flush=True)
release = sys.argv[1]
deadline = time.monotonic() + 30
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
gitexp.finish()
"""


def test_metrics_reach_git_while_the_run_goes_on(repo: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "log_then_wait.py", LOG_THEN_WAIT)
    release = tmp_path / "release"
    wrapper = start_wrapper(
        repo, tmp_path, "--", PY, script, str(release), env={"GITEXP_CHECKPOINT_SECONDS": "0.5"}
    )
    try:

        def checkpoint_with_rows() -> str | None:
            run_id = only_run_id(repo)
            if run_id is None:
                return None
            ref = PREFIX + run_id
            tree = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/history")
            if ".gitexp/history/000000.jsonl" not in tree.split():
                return None
            return ref if len(history_rows(repo, ref)) == 5 else None

        ref = wait_for(checkpoint_with_rows, timeout=20, what="a checkpoint with the rows")
        assert wrapper.poll() is None  # still going
        assert run_json(repo, ref)["status"] == "running"
        assert row(repo, ref)["status"] == "running"
        rows = history_rows(repo, ref)
        assert [r["_step"] for r in rows] == [0, 1, 2, 3, 4]
        assert [r["loss"] for r in rows] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
        assert row(repo, ref)["metrics"]["loss"]["min"] == 0.2
    finally:
        release.touch()
        assert wrapper.wait(timeout=30) == 0
    assert run_json(repo, ref)["status"] == "finished"
    assert len(history_rows(repo, ref)) == 5


# -- crashes -------------------------------------------------------------------------------

LOG_FOREVER = """
import time
import gitexp
gitexp.init()
step = 0
deadline = time.monotonic() + 60  # never outlive a failed test for long
while time.monotonic() < deadline:
    gitexp.log({"loss": 1.0 / (step + 1)})
    print(f"step {step}", flush=True)
    step += 1
    time.sleep(0.05)
"""


def _assert_fast_forward_chain(repo: Path, ref: str, observed: list[str]) -> None:
    final = git(repo, "rev-parse", ref).strip()
    for old in observed:
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", old, final], cwd=repo)
        assert ancestor.returncode == 0, f"{old} is not an ancestor of {final}"
    baseline = run_json(repo, ref)["baseline"]
    lines = git(repo, "rev-list", "--parents", ref, f"^{baseline}").splitlines()
    assert len(lines) >= 2
    for newer, older in itertools.pairwise(lines):
        assert newer.split()[1:] == [older.split()[0]]  # one parent: the previous commit
    assert lines[-1].split()[1:] == [baseline]


def test_killed_wrapper_and_command_are_recovered_as_crashed(repo: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path, "log_forever.py", LOG_FOREVER)
    with subreaper():
        wrapper = start_wrapper(
            repo,
            tmp_path,
            "--",
            PY,
            script,
            env={"GITEXP_CHECKPOINT_SECONDS": "0.5"},
            start_new_session=True,
        )
        adopted: list[int] = []
        crashed = False
        try:
            observed: list[str] = []

            def two_checkpoints_with_rows() -> bool:
                run_id = only_run_id(repo)
                if run_id is None:
                    return False
                sha = git(repo, "rev-parse", PREFIX + run_id).strip()
                if not observed or observed[-1] != sha:
                    observed.append(sha)
                return len(observed) >= 3 and bool(history_rows(repo, sha))

            wait_for(two_checkpoints_with_rows, timeout=30, what="checkpoints")
            run_id = only_run_id(repo)
            child, keeper = owner(repo)["child_pid"], owner(repo)["keeper_pid"]
            adopted = [*children_of(wrapper.pid), child]  # the helpers, and the command
            # A crash of all: the keeper held (or it would finalize the run with the
            # command's status: tests/test_stop.py), gitexp run killed first (so it never
            # sees the command die), then the command, whatever process group it is in.
            os.kill(keeper, signal.SIGSTOP)
            os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            os.kill(keeper, signal.SIGKILL)
            crashed = True
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait(timeout=10)
            for pid in adopted:
                if not crashed:  # the test failed half-way: leave nothing running
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                reap(pid)
    ref = PREFIX + run_id
    live_history = (live_dir(repo, run_id) / "history.jsonl").read_text().splitlines()
    assert len(live_history) >= 5
    assert row(repo, ref)["status"] == "running"

    table = gitexp("ls", cwd=repo)

    assert table.returncode == 0, table.stderr
    (line,) = [line for line in table.stdout.splitlines() if line.startswith(run_id[:7])]
    assert "crashed" in line.split()
    listed = gitexp("ls", "--json", cwd=repo)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert (entry["id"], entry["status"]) == (run_id, "crashed")
    info = run_json(repo, ref)
    assert info["status"] == "crashed" and info["end"] is not None
    assert row(repo, ref)["status"] == "crashed"
    rows = history_rows(repo, ref)
    assert rows == [json.loads(line) for line in live_history]  # all that reached the disk
    assert [r["_step"] for r in rows] == list(range(len(rows)))
    assert "step 0\n" in show(repo, ref, ".gitexp/output.log")
    assert not live_dir(repo, run_id).exists()
    _assert_fast_forward_chain(repo, ref, observed)
    assert_fsck_clean(repo)


OUTLIVE_WRAPPER = """
import os, sys, time
import gitexp
ready, go, done = sys.argv[1:4]
gitexp.init()
gitexp.log({"phase": 1})
print("early output", flush=True)
open(ready, "w").close()
deadline = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
if not os.environ.get("QUIET_AFTER_GO"):  # the keeper, its output's reader, was killed
    print("late output after the wrapper died", flush=True)
    print("late error output", file=sys.stderr, flush=True)
gitexp.log({"phase": 2})
gitexp.finish()
open(done, "w").close()
"""


def _start_outliving_child(
    repo: Path, tmp_path: Path, kill_keeper: bool = False
) -> tuple[subprocess.Popen[bytes], int, list[int], Path, Path]:
    """gitexp run killed (and its keeper too, if asked) while the command goes on."""
    script = write_script(tmp_path, "outlive.py", OUTLIVE_WRAPPER)
    ready, go, done = tmp_path / "ready", tmp_path / "go", tmp_path / "done"
    env = {"QUIET_AFTER_GO": "1"} if kill_keeper else None
    wrapper = start_wrapper(
        repo, tmp_path, "--", PY, script, str(ready), str(go), str(done), env=env
    )
    wait_for(ready.exists, what="the child to start")
    owned = wait_for(lambda: owner(repo), what="the wrapper to record its child")
    child, keeper = owned["child_pid"], owned["keeper_pid"]
    others = children_of(wrapper.pid)  # the sentinel, the output copier and the keeper
    os.kill(wrapper.pid, signal.SIGKILL)
    wrapper.wait(timeout=10)
    if kill_keeper:
        os.kill(keeper, signal.SIGKILL)  # the command is an orphan now, ours to reap
    return wrapper, child, others, go, done


def test_command_outlives_a_killed_wrapper(repo: Path, tmp_path: Path) -> None:
    with subreaper():
        _, child, others, go, done = _start_outliving_child(repo, tmp_path)
        run_id = only_run_id(repo)
        ref = PREFIX + run_id
        try:
            # The command still trains: the run is not finalized under it.
            listed = gitexp("ls", "--json", cwd=repo)
            assert listed.returncode == 0, listed.stderr
            assert json.loads(listed.stdout)[0]["status"] == "running"
            assert row(repo, ref)["status"] == "running"
            assert live_dir(repo, run_id).exists()
            go.touch()
            wait_for(done.exists, what="the command to finish")
        finally:
            go.touch()
            for pid in (child, *others):
                reap(pid)

    # The keeper (reaped above: it exits once the run is final) finalized the run with
    # the command's own exit status.
    listed = gitexp("ls", "--json", cwd=repo)

    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["status"] == "finished"
    info = run_json(repo, ref)
    assert (info["status"], info["exit_code"], info["signal"]) == ("finished", 0, None)
    output = show(repo, ref, ".gitexp/output.log")
    assert "early output" in output
    assert "late output after the wrapper died" in output
    assert "late error output" in output
    assert [r["phase"] for r in history_rows(repo, ref)] == [1, 2]
    assert not live_dir(repo, run_id).exists()
    assert_fsck_clean(repo)


def test_exited_but_unreaped_command_does_not_keep_the_run_alive(
    repo: Path, tmp_path: Path
) -> None:
    """An exited command nobody reaped yet (a zombie: a container's PID 1 may never reap
    orphans; here gitexp run and its keeper were killed) has ended: the run is finalized
    as crashed.  (The keeper also read the command's output: the command prints nothing
    after, or its next line would meet a broken pipe.)"""
    with subreaper():
        _, child, others, go, done = _start_outliving_child(repo, tmp_path, kill_keeper=True)
        try:
            go.touch()
            wait_for(done.exists, what="the command to finish")
            wait_for(
                lambda: Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                what="the command to exit",
            )
            listed = gitexp("ls", "--json", cwd=repo)
            assert json.loads(listed.stdout)[0]["status"] == "crashed"
        finally:
            for pid in (child, *others):
                reap(pid)


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "exit_code", "expected"),
    [
        (["--"], 2, ["missing the command"]),
        ([], 2, ["missing the command"]),
        (["--config", "missing.yaml", "--", PY, "-c", "pass"], 4, ["not found", "missing.yaml"]),
        (["--config", "{bad}", "--", PY, "-c", "pass"], 4, ["invalid YAML", "line 2"]),
        (["-p", "lr", "--", PY, "-c", "pass"], 2, ["'lr'", "missing '='"]),
        (["-p", "=3", "--", PY, "-c", "pass"], 2, ["empty key"]),
        (
            ["--config", "{scalar}", "-p", "model.depth=4", "--", PY, "-c", "pass"],
            2,
            ["model.depth", "not a mapping"],
        ),
    ],
    ids=[
        "dashdash-only",
        "no-command",
        "missing-config",
        "invalid-yaml",
        "no-equals",
        "no-key",
        "override-into-scalar",
    ],
)
def test_bad_input_changes_nothing(
    repo: Path, tmp_path: Path, args: list[str], exit_code: int, expected: list[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\n  depth: 4\n")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("model: resnet\n")
    paths = {"{bad}": str(bad), "{scalar}": str(scalar)}
    args = [paths.get(a, a) for a in args]
    before = repo_state(repo)

    done = gitexp("run", *args, cwd=repo)

    assert done.returncode == exit_code, done.stderr
    assert done.stderr.startswith("gitexp: error: ")
    for fragment in expected:
        assert fragment in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert repo_state(repo) == before
    assert run_refs(repo) == {}


def test_outside_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    probe = subprocess.run(["git", "rev-parse"], cwd=plain, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the temporary folder is inside a git repository")

    done = gitexp("run", "--", PY, "-c", "pass", cwd=plain)

    assert done.returncode == 3
    assert "not inside a git repository" in done.stderr
    assert "git init" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(plain.iterdir()) == []


def test_command_not_found_is_recorded_as_failed(repo: Path) -> None:
    before = set(run_refs(repo))
    status_before = git(repo, "status", "--porcelain", "--ignored")

    done = gitexp("run", "--", "gitexp-no-such-command-4711", "--flag", cwd=repo)

    assert done.returncode == 127
    assert "gitexp-no-such-command-4711" in done.stderr
    assert "Traceback" not in done.stderr
    (run_id,) = set(run_refs(repo)) - before
    info = run_json(repo, PREFIX + run_id)
    assert (info["status"], info["exit_code"]) == ("failed", 127)
    assert info["command"] == ["gitexp-no-such-command-4711", "--flag"]
    assert "gitexp-no-such-command-4711" in show(repo, PREFIX + run_id, ".gitexp/output.log")
    assert git(repo, "status", "--porcelain", "--ignored") == status_before
    assert not live_dir(repo, run_id).exists()


# -- repositories that must work ------------------------------------------------------------


def test_repository_without_commits(empty_repo: Path) -> None:
    (empty_repo / "train.py").write_text("print('first')\n")

    ref, done = record(empty_repo)

    assert done.returncode == 0, done.stderr
    info = run_json(empty_repo, ref)
    assert info["baseline"] is None and info["status"] == "finished"
    assert info["branch"] == "main"  # HEAD names main, unborn
    roots = git(empty_repo, "rev-list", "--max-parents=0", ref).split()
    first = git(empty_repo, "rev-list", "--reverse", ref).split()[0]
    assert roots == [first]
    assert git(empty_repo, "show", f"{ref}:train.py") == "print('first')\n"
    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=empty_repo)
    assert head.returncode != 0  # still no commits on any branch
    assert git(empty_repo, "for-each-ref", "refs/heads") == ""
    assert_fsck_clean(empty_repo)


def test_detached_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "more.txt").write_text("second commit\n")
    git(repo, "add", "more.txt")
    git(repo, "commit", "-q", "-m", "second")
    git(repo, "checkout", "-q", "--detach", first)

    ref, done = record(repo)

    assert done.returncode == 0, done.stderr
    info = run_json(repo, ref)
    assert info["baseline"] == first
    assert info["branch"] is None
    assert info["dirty"] is False
    oldest = git(repo, "rev-list", "--reverse", ref, f"^{first}").split()[0]
    assert git(repo, "rev-parse", f"{oldest}^").strip() == first
    assert git(repo, "rev-parse", "HEAD").strip() == first  # HEAD left where it was
    assert git(repo, "symbolic-ref", "-q", "HEAD", check=False) == ""


def test_workspace_with_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    project = tmp_path / "my projects é" / "expériences ü 1"
    project.mkdir(parents=True)
    git(project, "init", "-q")
    (project / "train script.py").write_text("print('ok')\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "init")
    (project / "résultats — 日本語.txt").write_text("untracked\n")
    sub = project / "sub dir ø"
    sub.mkdir()
    script = "import os, sys; print(os.getcwd()); open('seen here.txt', 'w').write('x')"

    ref, done = record(project, code=script, cwd=sub)

    assert done.returncode == 0, done.stderr
    info = run_json(project, ref)
    assert info["cwd"] == "sub dir ø"
    assert Path(done.stdout.strip()).resolve() == sub.resolve()
    names = git(project, "ls-tree", "-r", "-z", "--name-only", ref).split("\0")
    assert "résultats — 日本語.txt" in names and "train script.py" in names
    assert (sub / "seen here.txt").exists()


def test_command_started_from_a_subdirectory(repo: Path) -> None:
    sub = repo / "experiments" / "exp1"
    sub.mkdir(parents=True)

    ref, done = record(repo, code="import os; print(os.getcwd())", cwd=sub)

    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == sub.resolve()  # runs where it was started
    assert run_json(repo, ref)["cwd"] == "experiments/exp1"
    assert show(repo, ref, "train.py").startswith("import gitexp")  # whole repository


def test_concurrent_runs_are_all_recorded(repo: Path, tmp_path: Path) -> None:
    # Runs started together write identical objects (config, manifest, summaries) at once.
    code = "import sys, time; time.sleep(0.3); print('run', sys.argv[1])"
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [PY, "-m", "gitexp", "run", "--name", f"par-{i}", "--", PY, "-c", code, str(i)],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]

    for i, (p, (out, err)) in enumerate(zip(procs, results, strict=True)):
        assert p.returncode == 0, err.decode()
        assert out.decode() == f"run {i}\n"
    refs = run_refs(repo)
    assert len(refs) == 4 and len(set(refs.values())) == 4
    by_name = {}
    for run_id in refs:
        info = run_json(repo, PREFIX + run_id)
        assert info["id"] == run_id and info["status"] == "finished"
        by_name[info["name"]] = run_id
        assert show(repo, PREFIX + run_id, ".gitexp/output.log") == f"run {info['name'][4:]}\n"
    assert sorted(by_name) == [f"par-{i}" for i in range(4)]
    assert not any((repo / ".git" / "gitexp" / "live").iterdir())
    assert_fsck_clean(repo)


def test_a_concurrent_writer_of_the_same_object_does_not_stop_a_run(
    repo: Path, tmp_path: Path
) -> None:
    """Another process holds the object's lock while writing the same blob: no crash."""
    shared = b"data shared by runs started together\n"
    (repo / "shared.txt").write_bytes(shared)
    sha = (
        subprocess.run(
            ["git", "hash-object", "--stdin"],
            cwd=repo,
            input=shared,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    lock = repo / ".git" / "objects" / sha[:2] / f"{sha[2:]}.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(b"")  # another run is writing this very object right now ...

    def other_writer_finishes() -> None:
        time.sleep(0.5)  # ... and finishes a moment later
        subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=shared)
        lock.unlink(missing_ok=True)

    other = threading.Thread(target=other_writer_finishes)
    other.start()
    try:
        done = gitexp("run", "--", PY, "-c", "print('trained')", cwd=repo)
    finally:
        other.join()

    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained\n"
    (run_id,) = run_refs(repo)
    assert git(repo, "show", f"{PREFIX}{run_id}:shared.txt").encode() == shared
    assert_fsck_clean(repo)
