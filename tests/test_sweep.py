"""gitexp sweep: a group of real runs, some at once, restartable, with a ranked table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import gitexp

from gitexp.errors import ConfigError, UsageError
from gitexp.sweep import space as sweepmod

SWEEP_TRAIN = """\
import os, sys, time, gitexp
run = gitexp.init(config={"lr": 0.1, "batch": 16})
time.sleep(0.4)
gitexp.log({"loss": run.config.lr * run.config.batch, "acc": 1 - run.config.lr})
if os.environ.get("FAIL_ONE") and run.config.lr == 0.001 and run.config.batch == 64:
    sys.exit(3)
"""
GRID = ("-p", "lr=0.1,0.01,0.001", "-p", "batch=32,64")


def _group(repo: Path, group: str) -> list[dict[str, Any]]:
    done = gitexp("ls", "--group", group, "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _git_show(repo: Path, run: str, path: str) -> str:
    ref = f"refs/gitexp/runs/{run}"
    done = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def _most_at_once(rows: list[dict[str, Any]]) -> int:
    return max(sum(1 for r in rows if r["start"] <= row["start"] < r["end"]) for row in rows)


@pytest.mark.slow
def test_sweep_of_six_runs_two_at_once_then_restart(repo: Path) -> None:
    (repo / "sweep_train.py").write_text(SWEEP_TRAIN)
    command = ("--", sys.executable, "sweep_train.py")
    first = gitexp(
        "sweep", *GRID, "-j", "2", "--name", "lr", *command, cwd=repo, env={"FAIL_ONE": "1"}
    )
    assert first.returncode == 1, first.stderr  # one run failed
    assert "6 combinations, 0 done already, 6 to run (2 at a time)" in first.stderr
    rows = _group(repo, "lr")
    assert len(rows) == 6
    assert sorted(r["status"] for r in rows) == ["failed"] + ["finished"] * 5
    assert {(r["config"]["lr"], r["config"]["batch"]) for r in rows} == {
        (lr, batch) for lr in (0.1, 0.01, 0.001) for batch in (32, 64)
    }
    assert {r["name"] for r in rows} >= {"lr-lr=0.1-batch=32", "lr-lr=0.001-batch=64"}
    assert _most_at_once(rows) == 2  # parallel, but never more than -j

    # Each trial's manifest names the executor that started it (a local trial: no job id).
    host = json.loads(_git_show(repo, rows[0]["id"], ".gitexp/hardware.json"))["host"]
    assert host["executor"] == {"name": "local", "node": host["hostname"], "job_id": None}

    # The final table: sorted by the first metric with a goal (loss: lower is better).
    table = first.stdout.splitlines()
    assert table[0].split() == ["name", "id", "status", "duration", "lr", "batch", "loss", "[min]"]
    assert table[2].split()[0] == "lr-lr=0.001-batch=32"
    assert table[-1].split()[0] == "lr-lr=0.1-batch=64"

    # Started again: only the failed combination runs.
    again = gitexp("sweep", *GRID, "-j", "2", "--name", "lr", "--sort", "acc", *command, cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "6 combinations, 5 done already, 1 to run" in again.stderr
    rows = _group(repo, "lr")
    assert len(rows) == 7
    assert sum(r["status"] == "finished" for r in rows) == 6
    assert again.stdout.splitlines()[0].split()[-2:] == ["acc", "[max]"]
    assert again.stdout.splitlines()[2].split()[4] == "0.001"  # best acc first

    # Everything finished: nothing left to run.
    last = gitexp("sweep", *GRID, "--name", "lr", "--dry-run", *command, cwd=repo)
    assert "6 done already, 0 to run" in last.stderr


def test_sweep_file_ranges_and_random(repo: Path, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "command: python train.py\n"
        "name: f\n"
        "parameters:\n"
        "  lr: [0.1, 0.01]\n"
        "  batch: {values: [32, 64]}\n"
        "  wd: {min: 0, max: 0.1, steps: 3}\n"
        "  depth: {min: 2, max: 8, steps: 4}\n"
        "  warmup: {min: 1e-4, max: 1e-2, steps: 3, scale: log}\n"
        "  opt: adam\n"
    )
    done = gitexp("sweep", "--file", str(spec), "--dry-run", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "144 combinations" in done.stderr  # 2 * 2 * 3 * 4 * 3 * 1
    assert "f-lr=0.1-batch=32-wd=0.0-depth=2-warmup=0.0001" in done.stdout
    assert "wd=0.05-" in done.stdout and "depth=4-" in done.stdout and "warmup=0.001" in done.stdout
    picked = gitexp("sweep", "--file", str(spec), "--random", "5", "--dry-run", cwd=repo)
    assert "5 combinations" in picked.stderr
    assert (
        picked.stdout
        == gitexp("sweep", "--file", str(spec), "--random", "5", "--dry-run", cwd=repo).stdout
    )  # the same draw when started again
    # -p on the command line replaces the file's values for that key.
    narrowed = gitexp("sweep", "--file", str(spec), "-p", "lr=0.5", "--dry-run", cwd=repo)
    assert "72 combinations" in narrowed.stderr


def test_parameter_parsing() -> None:
    assert sweepmod.split_values("0.1, 0.01,[1,2],{a: 1},'x,y'") == [
        "0.1",
        "0.01",
        "[1,2]",
        "{a: 1}",
        "'x,y'",
    ]
    param = sweepmod.parse_cli("opt=adam,sgd,adam")
    assert [c.value for c in param.choices] == ["adam", "sgd"]
    assert [c.value for c in sweepmod.parse_cli("x=1,1.5,true,null,nan").choices][:4] == [
        1,
        1.5,
        True,
        None,
    ]
    for value in (0.1, 1e-05, 3, "0.01", "yes", " padded", [1, 2], {"a": 1}, True, None):
        text = sweepmod.value_text(value)
        assert sweepmod.parse_cli(f"k={text}").choices[0].value == value, (value, text)
    with pytest.raises(UsageError):
        sweepmod.parse_cli("no-equals")
    continuous = sweepmod.Parameter("p", low=0.0, high=1.0)
    with pytest.raises(UsageError):
        sweepmod.combinations([continuous], None, "seed")
    drawn = sweepmod.combinations([continuous], 4, "seed")
    assert len(drawn) == 4 and all(0 <= combo[0][1].value <= 1 for combo in drawn)


def test_bad_sweep_files(repo: Path, tmp_path: Path) -> None:
    for text in (
        "parameters: {lr: {min: 1}}\n",
        "parameters: {lr: {min: 0, max: 1, scale: log, steps: 2}}\n",
        "parameters: {}\n",
        "params: {lr: [1]}\n",
    ):
        spec = tmp_path / "bad.yaml"
        spec.write_text(text)
        with pytest.raises(ConfigError):
            sweepmod.load_file(str(spec))
        assert gitexp("sweep", "--file", str(spec), "--", "true", cwd=repo).returncode == 4
    assert gitexp("sweep", "--", "true", cwd=repo).returncode == 2  # no parameters
    assert gitexp("sweep", "-p", "lr=1,2", cwd=repo).returncode == 2  # no command
