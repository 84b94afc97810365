"""gitexp sweep through Optuna: grid, random and Bayesian searches, pruning, wandb's sweep
YAML, and a sweep ref that a second clone shows and resumes."""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, require

from gitexp.sweep import space as sweepmod
from gitexp.sweep import study as studymod

require("optuna")
pytestmark = pytest.mark.integration

QUADRATIC = """\
import math, gitexp
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": (math.log10(run.config.lr) + 2) ** 2})
"""


def _group(repo: Path, group: str) -> list[dict[str, Any]]:
    done = gitexp("ls", "--group", group, "--json", "-n", "1000", cwd=repo)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _loss(row: dict[str, Any]) -> float:
    return float(row["metrics"]["loss"]["last"])


def _commit(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")


@pytest.mark.slow
def test_bayes_search_finds_a_better_lr_than_its_random_start(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "quad.py", QUADRATIC)
    spec = tmp_path / "sweep.yaml"
    spec.write_text("parameters:\n  lr: {min: 1.0e-6, max: 1.0, scale: log}\n")
    done = gitexp(
        "sweep", "--file", str(spec), "--method", "bayes", "--trials", "12",
        "--metric", "loss", "--group", "quad", "--", sys.executable, "quad.py", "${args}",
        cwd=repo, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sweep quad (bayes, minimize loss): 12 trials, 0 done already, 12 to run" in done.stderr
    rows = sorted(_group(repo, "quad"), key=lambda row: int(row["name"].rsplit("-", 1)[1]))
    assert [row["name"] for row in rows] == [f"quad-{n}" for n in range(12)]
    assert all(row["status"] == "finished" for row in rows)
    # TPE draws a third of the budget (4 trials) at random, then models the results: its
    # last trials lie closer to lr = 0.01 than the random ones (a lucky random draw may
    # still be the best single trial, so medians are compared).
    start, last = rows[:4], rows[-4:]
    assert statistics.median(map(_loss, last)) < statistics.median(map(_loss, start))
    assert min(map(_loss, rows)) < 0.05  # lr within about 10**±0.2 of 0.01
    # The final table is best first, by the search's metric.
    best = min(rows, key=_loss)["name"]
    assert done.stdout.splitlines()[2].split()[0] == best


GRID_TRAIN = """\
import gitexp
run = gitexp.init(config={"lr": 0.1, "batch": 16})
gitexp.log({"loss": run.config.lr * run.config.batch})
"""


@pytest.mark.slow
def test_grid_through_optuna_covers_the_product_once(repo: Path) -> None:
    _commit(repo, "sweep_train.py", GRID_TRAIN)
    grid = ("-p", "lr=0.1,0.01,0.001", "-p", "batch=32,64", "--method", "grid", "--metric", "loss")
    command = ("--group", "g", "-j", "2", "--", sys.executable, "sweep_train.py")
    done = gitexp("sweep", *grid, *command, cwd=repo, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "6 trials, 0 done already, 6 to run (2 at a time)" in done.stderr
    rows = _group(repo, "g")
    assert sorted((r["config"]["lr"], r["config"]["batch"]) for r in rows) == sorted(
        (lr, batch) for lr in (0.1, 0.01, 0.001) for batch in (32, 64)
    )
    # The sweep's ref holds its spec alone, readable without gitexp.
    assert git(repo, "ls-tree", "--name-only", "refs/gitexp/sweeps/g").split() == ["sweep.yaml"]
    spec = git(repo, "show", "refs/gitexp/sweeps/g:sweep.yaml")
    assert "method: grid" in spec and "trials: 6" in spec
    assert git(repo, "rev-list", "--count", "refs/gitexp/sweeps/g").strip() == "1"
    again = gitexp("sweep", *grid, *command, cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "6 trials, 6 done already, 0 to run" in again.stderr
    # The same group with another search is refused: the ref is written once.
    other = gitexp("sweep", *grid[:-1], "acc", *command, cwd=repo)
    assert other.returncode == 2
    assert "sweep g exists with another spec" in other.stderr


WANDB_TRAIN = """\
import argparse, gitexp
parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.01)
parser.add_argument("--batch_size", type=int, default=8)
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
run = gitexp.init(config=vars(args))
for epoch in range(args.epochs):
    gitexp.log({"val_loss": args.learning_rate * args.batch_size / (epoch + 1)})
"""

# The shape of wandb's documented sweep configuration, written for this test.
WANDB_SWEEP = """\
program: wandb_train.py
method: bayes
metric:
  name: val_loss
  goal: minimize
parameters:
  learning_rate:
    distribution: log_uniform_values
    min: 0.0001
    max: 0.1
  batch_size:
    values: [16, 32, 64]
  optimizer:
    value: adam
  epochs:
    distribution: int_uniform
    min: 1
    max: 3
early_terminate:
  type: hyperband
  min_iter: 1
  eta: 2
run_cap: 3
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - ${args}
"""


@pytest.mark.slow
def test_a_wandb_sweep_yaml_runs_as_is(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "wandb_train.py", WANDB_TRAIN)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(WANDB_SWEEP)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # ${interpreter}
    done = gitexp(
        "sweep", "--file", str(spec), "--group", "wb", cwd=repo, env={"PATH": path}, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert "sweep wb (bayes, minimize val_loss, pruning: hyperband): 3 trials" in done.stderr
    rows = _group(repo, "wb")
    assert len(rows) == 3 and all(row["status"] == "finished" for row in rows)
    for row in rows:
        config = row["config"]
        assert config["optimizer"] == "adam"
        assert 0.0001 <= config["learning_rate"] <= 0.1
        assert config["batch_size"] in (16, 32, 64)
        assert isinstance(config["epochs"], int) and 1 <= config["epochs"] <= 3
    spec_text = git(repo, "show", "refs/gitexp/sweeps/wb:sweep.yaml")
    assert "distribution: log_uniform_values" in spec_text
    assert "type: hyperband" in spec_text


def test_wandb_parameter_specs_become_optuna_ranges() -> None:
    spec = sweepmod.load_spec(
        {
            "method": "random",
            "parameters": {
                "a": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 3},
                "b": {"distribution": "log_uniform", "min": -2, "max": 0},
                "c": {"distribution": "normal", "mu": 1, "sigma": 0.5},
                "d": {"min": 1, "max": 4},
                "model": {"parameters": {"depth": {"values": [2, 4]}}},
                "e": {"values": ["x", "y"], "probabilities": [0.9, 0.1]},
            },
        },
        "wandb.yaml",
    )
    by_key = {p.key: p for p in spec.parameters}
    assert (by_key["a"].low, by_key["a"].high, by_key["a"].step, by_key["a"].integer) == (
        0,
        9,
        3,
        True,
    )
    assert by_key["b"].log and by_key["b"].high == 1.0
    assert (by_key["c"].low, by_key["c"].high) == (-0.5, 2.5)
    assert by_key["d"].integer and (by_key["d"].low, by_key["d"].high) == (1, 4)
    assert [c.value for c in by_key["model.depth"].choices] == [2, 4]
    assert len(spec.warnings) == 2  # normal's bounds, and probabilities not honoured
    # Written into a sweep ref and read back, each parameter is the same.
    again = sweepmod.load_spec(
        {"method": "random", "parameters": {p.key: p.spec() for p in spec.parameters}}, "ref"
    )
    assert [(p.key, p.low, p.high, p.log, p.integer, p.step) for p in again.parameters] == [
        (p.key, p.low, p.high, p.log, p.integer, p.step) for p in spec.parameters
    ]


PRUNED_TRAIN = """\
import os, time, gitexp
run = gitexp.init(config={"x": 0})
print("trial", run.config.x)
bad = os.path.exists(os.environ["MARK"])  # the first trial is good, the next bad
for step in range(30):
    gitexp.log({"loss": 100.0 + step if bad else 1.0 / (step + 1)})
    time.sleep(0.05 if bad else float(os.environ["GOOD_SLEEP"]))
open(os.environ["MARK"], "w").close()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "good_sleep",
    ["0.05", "0"],  # "0": the good trial ends before the sweep's first look at its rows
    ids=["watched", "ended-before-a-look"],
)
def test_median_pruner_stops_a_trial_that_logs_bad_values(
    repo: Path, tmp_path: Path, good_sleep: str
) -> None:
    _commit(repo, "prune_train.py", PRUNED_TRAIN)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "prune: {type: median, startup: 1}\nparameters:\n  x: [1, 2]\n"
        f"command: [{sys.executable}, prune_train.py]\n"
    )
    done = gitexp(
        "sweep", "--file", str(spec), "--group", "pr", cwd=repo,
        env={"MARK": str(tmp_path / "mark"), "GOOD_SLEEP": good_sleep}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in _group(repo, "pr")}
    assert rows["pr-0"]["status"] == "finished"
    assert rows["pr-1"]["status"] == "pruned"
    assert "pruned in" in done.stderr
    # What git holds: the status in run.json, and fewer logged steps than a full trial.
    ref = f"refs/gitexp/runs/{rows['pr-1']['id']}"
    assert json.loads(git(repo, "show", f"{ref}:.gitexp/run.json"))["status"] == "pruned"
    full, pruned = (
        len(git(repo, "show", f"refs/gitexp/runs/{rows[n]['id']}:.gitexp/history/000000.jsonl")
            .splitlines())
        for n in ("pr-0", "pr-1")
    )  # fmt: skip
    assert full == 30 and pruned < 30


@pytest.mark.slow
def test_a_second_clone_shows_and_resumes_the_sweep(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "quad.py", QUADRATIC)
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "HEAD:main")
    search = ("-p", "lr=1,0.1,0.01,0.001", "--method", "random", "--metric", "loss")
    first = gitexp(
        "sweep", *search, "--trials", "2", "--group", "rs", "--", sys.executable, "quad.py",
        "${args}", cwd=repo, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    pushed = gitexp("push", "origin", cwd=repo)
    assert pushed.returncode == 0, pushed.stderr
    assert "sweep rs: pushed" in pushed.stdout
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/gitexp/sweeps").split() == [
        "refs/gitexp/sweeps/rs"
    ]

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    pulled = gitexp("pull", "origin", cwd=clone)
    assert pulled.returncode == 0, pulled.stderr
    assert "sweep rs: new" in pulled.stdout
    shown = gitexp("sweep", "show", "rs", cwd=clone)
    assert shown.returncode == 0, shown.stderr
    assert "random, minimize loss" in shown.stdout and "2 of 2 done" in shown.stdout
    # A sweep from elsewhere runs its recorded command only with consent.
    refused = gitexp("sweep", "--resume", "rs", "--trials", "3", cwd=clone)
    assert refused.returncode == 6, refused.stderr
    resumed = gitexp("sweep", "--resume", "rs", "--trials", "3", "--yes", cwd=clone, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 trials, 2 done already, 1 to run" in resumed.stderr
    rows = _group(clone, "rs")
    assert sorted(row["name"] for row in rows) == ["rs-0", "rs-1", "rs-2"]
    assert all(row["status"] == "finished" for row in rows)


@pytest.mark.slow
def test_plain_git_push_and_fetch_carry_sweeps_after_install(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "quad.py", QUADRATIC)
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "-u", "origin", "main")
    assert gitexp("install", cwd=repo).returncode == 0
    done = gitexp(
        "sweep", "-p", "lr=0.1,0.01", "--method", "grid", "--metric", "loss", "--group", "hk",
        "--", sys.executable, "quad.py", "${args}", cwd=repo, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    git(repo, "push", "-q")  # plain git push: gitexp's pre-push hook pushes runs and sweeps
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/gitexp/sweeps").split() == [
        "refs/gitexp/sweeps/hk"
    ]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert gitexp("install", cwd=clone).returncode == 0
    git(clone, "fetch", "-q")  # mirrors the sweep under refs/remotes/origin/gitexp/sweeps/
    assert git(clone, "for-each-ref", "refs/gitexp/sweeps") == ""
    shown = gitexp("sweep", "show", cwd=clone)
    assert shown.returncode == 0, shown.stderr
    assert "sweep hk: new" in shown.stderr
    assert shown.stdout.splitlines()[2].split() == ["hk", "grid", "minimize", "loss", "2/2"]


def test_pruners_are_optunas_with_the_spec_settings() -> None:
    import optuna  # present: require() above skips the module otherwise

    hyperband = studymod.make_pruner({"type": "hyperband", "min_iter": 2, "max_iter": 27, "eta": 3})
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    median = studymod.make_pruner({"type": "median", "min_iter": 5, "startup": 3})
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert isinstance(studymod.make_pruner(None), optuna.pruners.NopPruner)
    # A sweep ref written by a newer gitexp may carry keys this one does not know.
    spec = sweepmod.load_spec(
        {"method": "grid", "parameters": {"x": [1]}, "future": 1}, "ref", strict=False
    )
    assert [p.key for p in spec.parameters] == ["x"]


SLOW_TRIAL = """\
import time, gitexp
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": 1.0})
time.sleep(60)
"""


@pytest.mark.slow
def test_a_bayes_agent_tells_the_study_of_trials_running_elsewhere(repo: Path) -> None:
    """An agent's study holds the group's running runs as running trials, which TPE's
    constant liar keeps it from crowding; the local resume and other methods do not."""
    import subprocess
    import time

    from gitexp.git.repo import GitRepo
    from gitexp.sweep import ref as sweepref
    from gitexp.sweep import search as search_plan

    _commit(repo, "quad.py", QUADRATIC)
    _commit(repo, "slow.py", SLOW_TRIAL)
    args = ["sweep", "--create", "--method", "bayes", "--trials", "6", "--metric", "loss"]
    args += ["--group", "liar", "-p", "lr=0.001,0.01,0.1,1"]
    assert gitexp(*args, "--", sys.executable, "quad.py", cwd=repo).returncode == 0
    for n, lr in enumerate(("0.1", "1")):
        done = gitexp("run", "--group", "liar", "--name", f"liar-{n}", "-p", f"lr={lr}",
                      "--", sys.executable, "quad.py", cwd=repo)  # fmt: skip
        assert done.returncode == 0, done.stderr
    going = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "run", "--group", "liar", "--name", "liar-2",
         "-p", "lr=0.001", "--", sys.executable, "slow.py"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            statuses = {row["name"]: row["status"] for row in _group(repo, "liar")}
            if statuses.get("liar-2") == "running" or going.poll() is not None:
                break
            time.sleep(0.1)
        assert statuses.get("liar-2") == "running", statuses
        with GitRepo.discover(str(repo)) as git_repo:
            sweep_id, spec = sweepref.load(git_repo, "liar")
            plan = search_plan.resumed_plan(sweep_id, spec)
            study, done_count, _ = search_plan.rebuilt_study(git_repo, plan, running=True)
            states = sorted((t.state.name, t.params["lr"]) for t in study.trials)
            assert done_count == 2
            assert states == [("COMPLETE", "0.1"), ("COMPLETE", "1"), ("RUNNING", "0.001")]
            assert study.sampler._constant_liar  # TPE scores running trials as the worst
            local, _, _ = search_plan.rebuilt_study(git_repo, plan)
            assert all(t.state.name == "COMPLETE" for t in local.trials)
    finally:
        going.terminate()
        going.wait(timeout=30)
