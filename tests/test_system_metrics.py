"""System metrics: sampled off the training thread, stored as history under system/, plotted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs

BUSY = """\
import threading, time, gitexp
run = gitexp.init()
print("THREADS", sorted(t.name for t in threading.enumerate()), flush=True)
data = []
end = time.time() + 3.0
step = 0
while time.time() < end:  # burn CPU and grow memory, as training does
    if len(data) < 150:
        data.append(bytearray(1 << 20))
    sum(range(20000))
    time.sleep(0.0002)  # as a training step's kernels do, the GIL is let go now and then
    if step % 50 == 0:
        gitexp.log({"loss": 1.0 / (step + 1)})
    step += 1
gitexp.finish()
"""
FAST = {"GITEXP_SYSTEM_INTERVAL": "0.25"}


def _system_rows(repo: Path, run_id: str) -> list[dict[str, Any]]:
    ref = f"refs/gitexp/runs/{run_id}"
    names = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/system").split()
    rows: list[dict[str, Any]] = []
    for name in names:
        rows += [json.loads(line) for line in git(repo, "show", f"{ref}:{name}").splitlines()]
    return rows


def _check(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= 2
    assert [row["_step"] for row in rows] == list(range(len(rows)))
    times = [row["_runtime"] for row in rows]
    assert times == sorted(times) and times[0] > 0
    for row in rows:
        assert 0 <= row["system/cpu_percent"] <= 100
        assert 0 < row["system/memory_percent"] <= 100
        assert row["system/memory_used_bytes"] > 0
    assert max(row.get("system/process_cpu_percent", 0) for row in rows) > 10
    memory = [
        row["system/process_memory_bytes"] for row in rows if "system/process_memory_bytes" in row
    ]
    assert memory and max(memory) > 100 << 20  # the script holds 150 MiB


def test_gitexp_run_samples_the_command(repo: Path) -> None:
    (repo / "busy.py").write_text(BUSY)
    done = gitexp("run", "--", sys.executable, "busy.py", cwd=repo, env=FAST)
    assert done.returncode == 0, done.stderr
    [run_id] = run_refs(repo)
    _check(_system_rows(repo, run_id))
    # System metrics are not training metrics: not in the summary, not in the row of `ls`.
    metrics = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/metrics.json"))
    assert not any(key.startswith("system/") for key in metrics["metrics"])
    # ... but they are plotted like any metric.
    plot = gitexp(
        "plot", "system/cpu_percent", "system/process_memory_bytes", "--x", "time", cwd=repo
    )
    assert plot.returncode == 0, plot.stderr
    assert "system/cpu_percent" in plot.stdout and "seconds since start" in plot.stdout


def test_a_direct_script_samples_from_a_process_of_its_own(repo: Path) -> None:
    (repo / "busy.py").write_text(BUSY)
    env = {**os.environ, **FAST}
    done = subprocess.run(
        [sys.executable, "busy.py"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "gitexp-system" not in done.stdout  # no thread in the script: a child samples
    [run_id] = run_refs(repo)
    _check(_system_rows(repo, run_id))


# A loop that never lets the GIL go: a sampler thread in the script's own process got
# one sample in three seconds here; the sampler's own process is not held by it.
GREEDY = BUSY.replace(
    "    time.sleep(0.0002)  # as a training step's kernels do, the GIL is let go now and then\n",
    "",
)


def test_a_loop_that_holds_the_gil_does_not_starve_the_sampler(repo: Path) -> None:
    assert GREEDY != BUSY
    (repo / "greedy.py").write_text(GREEDY)
    env = {**os.environ, **FAST}
    done = subprocess.run(
        [sys.executable, "greedy.py"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    [run_id] = run_refs(repo)
    rows = _system_rows(repo, run_id)
    _check(rows)
    assert len(rows) >= 6  # 3 s at 0.25 s a sample: 12 on an idle machine


CHILDREN = """\
import glob, os, sys, time, gitexp
def children():
    tasks = glob.glob(f"/proc/{os.getpid()}/task/*/children")  # a thread's children too
    return sorted(pid for name in tasks for pid in open(name).read().split())
gitexp.init()
time.sleep(float(sys.argv[1]))
print("DURING", *children())
gitexp.finish()
print("AFTER", *children())
"""


@pytest.mark.parametrize("seconds", [0.0, 1.0])
def test_the_sampler_process_starts_after_a_grace_and_is_reaped_at_finish(
    repo: Path, seconds: float
) -> None:
    (repo / "children.py").write_text(CHILDREN)
    done = subprocess.run(
        [sys.executable, "children.py", str(seconds)],
        cwd=repo,
        env={**os.environ, **FAST},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
    # A script that ends at once starts no sampler; one that runs has one, until finish.
    assert len(lines["DURING"]) == (1 if seconds else 0), lines
    assert lines["AFTER"] == []


@pytest.mark.slow
def test_system_metrics_can_be_turned_off(repo: Path) -> None:
    (repo / "busy.py").write_text(BUSY)
    off = gitexp("run", "--no-system-metrics", "--", sys.executable, "busy.py", cwd=repo, env=FAST)
    assert off.returncode == 0, off.stderr
    env = {**os.environ, **FAST, "GITEXP_SYSTEM_METRICS": "0"}
    done = subprocess.run([sys.executable, "busy.py"], cwd=repo, env=env, capture_output=True)
    assert done.returncode == 0
    assert len(run_refs(repo)) == 2
    for run_id in run_refs(repo):
        assert _system_rows(repo, run_id) == []


def test_the_sampler_imports_from_the_scripts_path_not_the_current_folder(
    repo: Path, tmp_path: Path
) -> None:
    """A script run from another folder: that folder is not on the script's sys.path,
    nor on its sampler's (a `gitexp.py` or `psutil.py` lying there is nobody's module)."""
    (repo / "busy.py").write_text(BUSY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("gitexp.py", "psutil.py"):
        (elsewhere / name).write_text("raise SystemExit('the wrong module was imported')\n")
    done = subprocess.run(
        [sys.executable, str(repo / "busy.py")], cwd=elsewhere,
        env={**os.environ, **FAST}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrong module" not in done.stderr and "Traceback" not in done.stderr
    [run_id] = run_refs(repo)
    _check(_system_rows(repo, run_id))
