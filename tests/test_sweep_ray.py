"""gitexp sweep --executor ray: trials as Ray tasks on a real cluster of one node.

The cluster is a Ray head the tests start on 127.0.0.1 with 2 CPUs (once for the module:
Ray takes seconds to start on two cores) and stop afterwards, every process of it.  The
trials run in the repository itself (the node sees it: a shared filesystem), or in clones
made from a bare remote that stands for a git server, which push their runs back.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, pin_environment, require, run_refs

TRAIN = """\
import gitexp
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": run.config.lr * 10})
"""
GRID = ("-p", "lr=0.1,0.01")
LONG = """\
import pathlib, time, gitexp
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": run.config.lr})
pathlib.Path("started").touch()
time.sleep(120)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _session_processes(sid: int) -> list[int]:
    """The processes still in the session the head was started in (Ray's daemons and
    workers stay in it), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _stop(head: subprocess.Popen[bytes]) -> None:
    """Stop the head and everything it started: the processes of its session, by id."""
    with pytest.MonkeyPatch.context():
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its daemons on SIGTERM
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
    deadline = time.monotonic() + 10
    while (left := _session_processes(head.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


_OTHER_PORTS = (
    "ray-client-server-port", "dashboard-agent-grpc-port", "dashboard-agent-listen-port",
    "metrics-export-port", "node-manager-port", "object-manager-port",
    "runtime-env-agent-port",
)  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Ray head on 127.0.0.1:PORT with 2 CPUs; the environment a sweep needs to use it."""
    require("ray", load=False)
    home = tmp_path_factory.mktemp("rayhome")
    scratch = tmp_path_factory.mktemp("raytmp")  # where a task makes its clones
    port = _free_port()
    low = random.randrange(20_000, 30_000, 100)  # workers' ports: a range of their own
    with pytest.MonkeyPatch.context() as patch:
        pin_environment(patch, home)
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            # Ray binds to the machine's outward address by default; this keeps it on
            # the loopback interface (the switch Ray has for single-machine clusters).
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "TMPDIR": str(scratch),
        }
    # Ray's sockets live in its temp folder, and a socket's path may not pass 107 bytes:
    # pytest's own folders (with xdist's popen-gwN) are too deep for it.
    sockets = tempfile.mkdtemp(prefix="gxray-", dir="/tmp")
    ray_bin = str(Path(sys.executable).parent / "ray")
    log = (tmp_path_factory.mktemp("raylog") / "head.log").open("wb")
    head = subprocess.Popen(
        [
            *(ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1"),
            *("--port", str(port), "--num-cpus", "2", "--disable-usage-stats"),
            *("--include-dashboard=false", "--temp-dir", sockets),
            # Ray's other fixed ports, free ones instead: another Ray on this machine
            # (a second test session, a user's own) must not make this head fail.
            *(arg for name in _OTHER_PORTS for arg in (f"--{name}", str(_free_port()))),
            *("--min-worker-port", str(low), "--max-worker-port", str(low + 99)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its session holds every Ray process: _stop finds them
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if head.poll() is not None:  # say why, from Ray's own words
                log.flush()
                said = Path(log.name).read_text(errors="replace")[-3000:]
                raise AssertionError(f"the Ray head exited {head.returncode}:\n{said}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.5)
        yield {
            "address": f"127.0.0.1:{port}",
            "scratch": str(scratch),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
    finally:
        _stop(head)
        log.close()
        shutil.rmtree(sockets, ignore_errors=True)
        assert not _session_processes(head.pid), "Ray processes outlived the tests"


def _ray_env(cluster: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cluster.items() if k.startswith("RAY_")}


def _group(repo: Path, group: str) -> list[dict[str, Any]]:
    done = gitexp("ls", "--group", group, "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _hardware(repo: Path | str, run: str) -> dict[str, Any]:
    text = git(repo, "show", f"refs/gitexp/runs/{run}:.gitexp/hardware.json")
    return dict(json.loads(text))


@pytest.mark.slow
@pytest.mark.integration
def test_a_grid_runs_as_ray_tasks_in_the_repository(repo: Path, cluster: dict[str, str]) -> None:
    (repo / "train.py").write_text(TRAIN)  # uncommitted: the shared repository runs it
    done = gitexp(
        *("sweep", *GRID, "-j", "2", "--name", "r", "--executor", "ray"),
        *("--address", cluster["address"], "--", sys.executable, "train.py"),
        cwd=repo,
        env=_ray_env(cluster),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = _group(repo, "r")
    assert sorted(r["config"]["lr"] for r in rows) == [0.01, 0.1]
    assert {r["status"] for r in rows} == {"finished"}
    for row in rows:
        host = _hardware(repo, row["id"])["host"]
        executor = host["executor"]
        assert executor["name"] == "ray"
        assert executor["node"] == host["hostname"]
        assert executor["job_id"]  # Ray's task id
    jobs = {_hardware(repo, r["id"])["host"]["executor"]["job_id"] for r in rows}
    assert len(jobs) == 2  # one task per trial
    assert not list((repo / ".git" / "gitexp" / "ray").iterdir())  # the mark is gone

    # SIGTERM to the sweep reaches the running trial through Ray (a cancelled task stops
    # its gitexp run), and no further trial starts.
    (repo / "long.py").write_text(LONG)
    sweep = subprocess.Popen(
        [
            *(sys.executable, "-m", "gitexp", "sweep", "-p", "lr=0.1,0.01", "--name", "s"),
            *("--executor", "ray", "--address", cluster["address"], "--"),
            *(sys.executable, "long.py"),
        ],
        cwd=repo,
        env={**os.environ, **_ray_env(cluster)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (repo / "started").exists():
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr
    rows = _group(repo, "s")
    assert [r["status"] for r in rows] == ["interrupted"], stderr


@pytest.mark.slow
@pytest.mark.integration
def test_trials_in_clones_push_their_runs_back(
    repo: Path, tmp_path: Path, cluster: dict[str, str]
) -> None:
    (repo / "train.py").write_text(TRAIN)
    git(repo, "commit", "-q", "-am", "train on lr")
    remote = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    head = git(repo, "rev-parse", "HEAD").strip()

    args = ("sweep", *GRID, "--name", "c", "--executor", "ray", "--remote", "origin")
    command = ("--address", cluster["address"], "--", sys.executable, "train.py")
    done = gitexp(*args, *command, cwd=repo, env=_ray_env(cluster), timeout=300)
    assert done.returncode == 0, done.stderr

    # The runs went to the remote from the clones, and came here from the remote.
    rows = _group(repo, "c")
    assert sorted(r["config"]["lr"] for r in rows) == [0.01, 0.1]
    assert {r["status"] for r in rows} == {"finished"}
    assert set(run_refs(remote)) == {r["id"] for r in rows}
    for row in rows:
        assert run_refs(repo)[row["id"]] == run_refs(remote)[row["id"]]
        # Each ran the sweep's commit: its run descends from it.
        ancestor = ["git", "merge-base", "--is-ancestor", head, row["commit"]]
        assert subprocess.run(ancestor, cwd=repo).returncode == 0
        assert _hardware(repo, row["id"])["host"]["executor"]["name"] == "ray"
    # The clones were removed once their runs were on the remote.
    assert not list(Path(cluster["scratch"]).glob("gitexp-ray-*"))

    # A dirty work tree cannot be cloned: refused before any trial starts.
    (repo / "train.py").write_text(TRAIN + "print('changed')\n")
    other = ("sweep", "-p", "lr=0.5", "--executor", "ray", "--remote", "origin")
    refused = gitexp(*other, *command, cwd=repo, env=_ray_env(cluster), timeout=120)
    assert refused.returncode == 6, refused.stderr
    assert "train.py" in refused.stderr and "Commit and push" in refused.stderr


PRUNED_TRAIN = """\
import os, time, gitexp
run = gitexp.init(config={"x": 0})
print("X IS", run.config.x, sorted(k for k in os.environ if "GITEXP" in k or "RANK" in k))
bad = os.path.exists("good-done")  # the first trial is good, the next bad
for step in range(30):
    gitexp.log({"loss": 100.0 + step if bad else 1.0 / (step + 1)})
    time.sleep(0.05)
open("good-done", "w").close()
"""


@pytest.mark.slow
@pytest.mark.integration
def test_a_search_prunes_a_ray_trial(repo: Path, tmp_path: Path, cluster: dict[str, str]) -> None:
    require("optuna", load=False)
    (repo / "prune_train.py").write_text(PRUNED_TRAIN)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "prune: {type: median, startup: 1}\nparameters:\n  x: [1, 2]\n"
        f"command: [{sys.executable}, prune_train.py]\n"
    )
    done = gitexp(
        *("sweep", "--file", str(spec), "--group", "pr", "--executor", "ray"),
        *("--address", cluster["address"]),
        cwd=repo,
        env=_ray_env(cluster),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in _group(repo, "pr")}
    # The pruner read the Ray trial's metrics from its live folder, and the cancelled
    # task stopped it: recorded as pruned, with fewer steps than the good trial.
    assert rows["pr-0"]["status"] == "finished"
    assert rows["pr-1"]["status"] == "pruned", done.stderr
    assert _hardware(repo, rows["pr-1"]["id"])["host"]["executor"]["name"] == "ray"


def test_ray_options_need_a_cluster_and_go_with_ray(repo: Path) -> None:
    command = ("--", sys.executable, "train.py")
    alone = gitexp("sweep", *GRID, "--address", "127.0.0.1:1", *command, cwd=repo)
    assert alone.returncode == 2
    assert "go with --executor ray" in alone.stderr
    nowhere = gitexp(
        "sweep", *GRID, "--executor", "ray", *command, cwd=repo, env={"RAY_ADDRESS": ""}
    )
    assert nowhere.returncode == 2
    assert "RAY_ADDRESS" in nowhere.stderr
    resources = gitexp(
        *("sweep", *GRID, "--executor", "ray", "--address", "127.0.0.1:1"),
        *("--resources", "gpu=lots", *command),
        cwd=repo,
    )
    assert resources.returncode == 2
    assert "NAME=AMOUNT" in resources.stderr
    assert not run_refs(repo)  # nothing ran


def test_without_ray_the_sweep_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.errors import UsageError
    from gitexp.sweep import rayexec

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when absent
    with pytest.raises(UsageError) as caught:
        rayexec.import_ray()
    assert "pip install 'gitexp[ray]'" in str(caught.value.hint)
    assert rayexec.parse_resources("cpu=2, gpu=0.5,accel=1") == {
        "num_cpus": 2.0,
        "num_gpus": 0.5,
        "resources": {"accel": 1.0},
    }
