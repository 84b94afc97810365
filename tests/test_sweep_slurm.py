"""gitexp sweep --executor slurm: trials as submitit jobs (submitit's local executor
stands in for SLURM, which this machine lacks), a grid as a job array, and trials the
scheduler stops recorded as ``preempted`` and run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import git, gitexp, require

from gitexp.errors import UsageError
from gitexp.sweep import slurm

LOCAL = {"GITEXP_SLURM_CLUSTER": "local"}

# A trial that trains until the test lets it end (a file named go), at most 30 s.
WAITING = """\
import os, time, gitexp
run = gitexp.init(config={"lr": 0.1})
for step in range(300):
    gitexp.log({"loss": run.config.lr / (step + 1)})
    if os.path.exists("go"):
        break
    time.sleep(0.1)
"""


def _commit(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")


def _group(repo: Path, group: str) -> list[dict[str, Any]]:
    done = gitexp("ls", "--group", group, "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return sorted(json.loads(done.stdout), key=lambda row: str(row["name"]))


def _manifest_host(repo: Path, run: str) -> dict[str, Any]:
    text = git(repo, "show", f"refs/gitexp/runs/{run}:.gitexp/hardware.json")
    return dict(json.loads(text)["host"])


def _start_sweep(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitexp", "sweep", *args],
        cwd=repo,
        env={**os.environ, **LOCAL},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _trial_jobs(repo: Path, count: int) -> list[psutil.Process]:
    """The job process (sweep/slurm.py's TrialCall) of each of ``count`` running trials:
    the parent of the ``gitexp run`` its run's live folder names, once it logged a row."""
    live = repo / ".git" / "gitexp" / "live"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = []
        for folder in sorted(live.glob("*")) if live.exists() else []:
            owner, history = folder / "owner.json", folder / "history.jsonl"
            if owner.exists() and history.exists() and history.stat().st_size:
                pid = json.loads(owner.read_text())["pid"]
                jobs.append(psutil.Process(pid).parent())
        if len(jobs) == count:
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"{count} trials did not start")


@pytest.mark.integration
@pytest.mark.slow
def test_grid_runs_as_jobs_whose_manifests_name_slurm_node_and_job(repo: Path) -> None:
    require("submitit")
    _commit(repo, "waiting.py", WAITING)
    (repo / "go").write_text("")  # the trials end at once
    done = gitexp(
        "sweep", "-p", "lr=0.1,0.01,0.001", "-j", "2", "--name", "g", "--executor", "slurm",
        "--time", "10", "--", sys.executable, "waiting.py",
        cwd=repo, env=LOCAL, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = _group(repo, "g")
    assert [row["status"] for row in rows] == ["finished"] * 3
    jobs = set()
    for row in rows:
        host = _manifest_host(repo, row["id"])
        executor = host["executor"]
        assert executor["name"] == "slurm"
        assert executor["node"] == host["hostname"]
        assert executor["job_id"]  # submitit's local stand-in: the job's controller pid
        jobs.add(executor["job_id"])
    assert len(jobs) == 3
    # Each job's log lies inside .git, never in the work tree (nor in a snapshot).
    logs = list((repo / ".git" / "gitexp" / "slurm" / "g").rglob("*_log.out"))
    assert len(logs) == 3
    assert git(repo, "status", "--porcelain", "--untracked-files=all").split() == ["??", "go"]


@pytest.mark.integration
@pytest.mark.slow
def test_trials_the_scheduler_stops_end_preempted_and_run_again(repo: Path) -> None:
    require("submitit")
    _commit(repo, "waiting.py", WAITING)
    grid = ("-p", "lr=0.1,0.01", "-j", "2", "--name", "p", "--executor", "slurm")
    command = ("--", sys.executable, "waiting.py")
    sweep = _start_sweep(repo, *grid, *command)
    # SLURM preempts (or cancels) with SIGTERM; submitit asks for SIGUSR2 before the
    # time limit. Each reaches the trial's job; neither came from the sweep.
    first, second = _trial_jobs(repo, 2)
    first.send_signal(signal.SIGTERM)
    second.send_signal(signal.SIGUSR2)
    _out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 1, err
    assert "2 of 2 runs did not finish; run the same sweep again to retry them" in err
    rows = _group(repo, "p")
    assert [row["status"] for row in rows] == ["preempted", "preempted"]
    assert all(row["exit_code"] == 143 for row in rows)  # gitexp run was stopped by SIGTERM
    listed = gitexp("ls", "--where", 'status == "preempted"', cwd=repo)
    assert listed.stdout.count("preempted") == 2, listed.stderr

    # The same grid again runs what the scheduler stopped.
    (repo / "go").write_text("")
    again = gitexp(*("sweep", *grid, *command), cwd=repo, env=LOCAL, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "2 combinations, 0 done already, 2 to run" in again.stderr
    statuses = sorted(row["status"] for row in _group(repo, "p"))
    assert statuses == ["finished", "finished", "preempted", "preempted"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_search_resumes_the_trial_its_scheduler_preempted(repo: Path) -> None:
    require("submitit")
    require("optuna")
    _commit(repo, "waiting.py", WAITING)
    search = ("--method", "random", "--trials", "1", "--metric", "loss", "--group", "s")
    spec = ("-p", "lr=0.1,0.01", "--executor", "slurm")
    sweep = _start_sweep(repo, *search, *spec, "--", sys.executable, "waiting.py", "${args}")
    (job,) = _trial_jobs(repo, 1)
    job.send_signal(signal.SIGTERM)
    _out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 1, err
    assert "1 of 1 trial did not finish; `gitexp sweep --resume s` runs" in err
    assert [row["status"] for row in _group(repo, "s")] == ["preempted"]

    (repo / "go").write_text("")
    resumed = gitexp(
        "sweep", "--resume", "s", "--executor", "slurm", cwd=repo, env=LOCAL, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "1 trials, 0 done already, 1 to run" in resumed.stderr
    assert sorted(row["status"] for row in _group(repo, "s")) == ["finished", "preempted"]


def test_slurm_options_need_the_slurm_executor_and_valid_values(repo: Path) -> None:
    command = ("--", sys.executable, "train.py")
    done = gitexp("sweep", "-p", "lr=0.1", "--partition", "gpu", *command, cwd=repo)
    assert done.returncode == 2
    assert "--partition is an option of --executor slurm" in done.stderr
    bad_time = ("--executor", "slurm", "--time", "soon")
    done = gitexp("sweep", "-p", "lr=0.1", *bad_time, *command, cwd=repo)
    assert done.returncode == 2
    assert "--time 'soon' is not a SLURM time limit" in done.stderr
    done = gitexp(
        "sweep", "-p", "lr=0.1", "--executor", "slurm", "--slurm-option", "qos", *command, cwd=repo
    )
    assert done.returncode == 2
    assert "--slurm-option 'qos' is not KEY=VALUE" in done.stderr
    # The group names a folder under .git and the jobs' #SBATCH line: no path, no newline.
    for group in ("../../outside", "a\ntouch /tmp/pwned #"):
        slurm = ("--executor", "slurm", "--time", "10", "--group", group)
        done = gitexp("sweep", "-p", "lr=0.1", *slurm, *command, cwd=repo)
        assert done.returncode == 2, done.stderr
        assert "a SLURM sweep's group names its jobs" in done.stderr
    assert not (repo.parent / "outside").exists()
    assert gitexp("ls", "--json", cwd=repo).stdout.strip() == "[]"  # nothing ran


def test_slurm_time_limits_in_every_form_sbatch_takes() -> None:
    assert slurm.parse_time("90") == 90
    assert slurm.parse_time("5:30") == 6  # minutes:seconds, rounded up
    assert slurm.parse_time("1:30:00") == 90
    assert slurm.parse_time("2-00") == 2 * 24 * 60
    assert slurm.parse_time("1-02:03") == 26 * 60 + 3
    assert slurm.parse_time("1-00:00:01") == 24 * 60 + 1
    for text in ("", "1h", "0", "1:2:3:4"):
        with pytest.raises(UsageError):
            slurm.parse_time(text)
    assert slurm.parse_options(["account=proj", "--qos=high", "mail-type=END"]) == {
        "account": "proj",
        "qos": "high",
        "mail_type": "END",
    }


def test_without_submitit_the_slurm_executor_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # an import of it fails
    with pytest.raises(UsageError) as caught:
        slurm.import_submitit()
    assert "pip install 'gitexp[slurm]'" in str(caught.value)


@pytest.mark.integration
@pytest.mark.slow
def test_a_trial_the_sweep_itself_stops_is_interrupted_not_preempted(repo: Path) -> None:
    require("submitit")
    _commit(repo, "waiting.py", WAITING)
    sweep = _start_sweep(
        repo,
        "-p",
        "lr=0.1",
        "--name",
        "i",
        "--executor",
        "slurm",
        "--",
        sys.executable,
        "waiting.py",
    )
    _trial_jobs(repo, 1)
    sweep.send_signal(signal.SIGTERM)  # the sweep passes it on to its jobs, saying so first
    _out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, err
    assert [row["status"] for row in _group(repo, "i")] == ["interrupted"]


@pytest.mark.integration
def test_a_batch_of_trials_is_one_sbatch_array_with_the_options_given(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a real cluster receives: sbatch stands in as a script that keeps the batch
    file submitit wrote and answers as sbatch does (the job never runs)."""
    require("submitit")
    bin_dir, kept = tmp_path / "bin", tmp_path / "kept"
    bin_dir.mkdir()
    kept.mkdir()
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" "{kept}/$(ls {kept} | wc -l).sh"\necho "Submitted batch job 4242"\n'
    )
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(repo)
    options = slurm.SlurmOptions("gpu", 90, 1, 4, "16G", {"account": "proj42"})
    executor = slurm.SlurmExecutor("g", options, 2, str(repo / ".git"))
    trials = [(f"g-{n}", [sys.executable, "-m", "gitexp", "run", "--", "true"]) for n in range(3)]
    jobs = executor.submit_array(trials)
    assert [job.job.job_id for job in jobs] == ["4242_0", "4242_1", "4242_2"]  # type: ignore
    (script,) = [path.read_text() for path in kept.iterdir()]  # one submission
    lines = set(script.splitlines())
    folder = repo / ".git" / "gitexp" / "slurm" / "g"
    assert {
        "#SBATCH --array=0-2%2",  # -j 2: two tasks at once
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "#SBATCH --account=proj42",
        "#SBATCH --job-name=gitexp-g",
        "#SBATCH --signal=USR2@90",
        f"#SBATCH --output={folder}/%A_%a_0_log.out",
    } <= lines, script
    assert not (repo / "g").exists() and git(repo, "status", "--porcelain") == ""


PRUNED_TRAIN = """\
import os, time, gitexp
run = gitexp.init(config={"x": 0})
print("trial", run.config.x)
bad = os.path.exists("first-done")  # the first trial is good, the next bad
# The good trial logs every step the bad one will, so the pruner can compare at whichever
# step it first reads; the bad one would run 30 s, which a loaded machine's slow job
# start and first read of its rows still leave time to stop it in.
for step in range(300):
    gitexp.log({"loss": 100.0 + step if bad else 1.0 / (step + 1)})
    time.sleep(0.1 if bad else 0.001)
open("first-done", "w").close()
"""


@pytest.mark.integration
@pytest.mark.slow
def test_a_trial_its_pruner_stops_as_a_job_is_pruned_not_preempted(
    repo: Path, tmp_path: Path
) -> None:
    require("submitit")
    require("optuna")
    _commit(repo, "prune_train.py", PRUNED_TRAIN)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "prune: {type: median, startup: 1}\nparameters:\n  x: [1, 2]\n"
        f"command: [{sys.executable}, prune_train.py]\n"
    )
    done = gitexp(
        "sweep", "--file", str(spec), "--group", "pr", "--executor", "slurm",
        cwd=repo, env=LOCAL, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {row["name"]: row["status"] for row in _group(repo, "pr")} == {
        "pr-0": "finished",
        "pr-1": "pruned",
    }
