"""examples/digits: the PyTorch example trains, records a sweep of three learning rates,
and its runs compare, plot and report (tiny: two epochs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"


def test_digits_sweep_records_three_comparable_runs(repo: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    shutil.copytree(EXAMPLE, repo / "examples" / "digits")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add the example")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["sh", "examples/digits/sweep.sh", "-p", "epochs=2", "-p", "watch_freq=5"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(gitexp("ls", "--json", "--sort", "config.lr", cwd=repo).stdout)
    assert [(r["name"], r["config"]["lr"], r["status"]) for r in runs] == [
        ("lr-0.01", 0.01, "finished"),
        ("lr-0.05", 0.05, "finished"),
        ("lr-0.2", 0.2, "finished"),
    ]
    assert all(r["tags"] == ["sweep"] and r["config"]["epochs"] == 2 for r in runs)
    # The sweep script printed the comparison: the largest rate learns fastest here.
    compare = done.stdout[done.stdout.index("lr-0.01 (") :]
    accuracy = next(line for line in compare.splitlines() if "val/accuracy" in line)
    assert accuracy.split()[1] == "[max]" and accuracy.rstrip().endswith("*")
    assert float(accuracy.split()[-2]) > 0.5
    assert "metrics.train/loss [min]" in compare  # goal declared by define_metric

    # Loss, accuracy, learning rate and gradient histograms are all in the history.
    ref = f"refs/gitexp/runs/{runs[2]['id']}"
    rows = [
        json.loads(line)
        for line in git(repo, "show", f"{ref}:.gitexp/history/000000.jsonl").splitlines()
    ]
    keys = set().union(*rows)
    assert {"train/loss", "lr", "val/loss", "val/accuracy", "gradients/0.weight"} <= keys
    assert {"parameters/4.bias", "gradients/4.bias"} <= keys
    batches = [r for r in rows if "train/loss" in r]
    assert len(batches) == 2 * 23  # 1,438 training images in batches of 64, two epochs
    with_grads = [i for i, r in enumerate(batches) if "gradients/0.weight" in r]
    assert with_grads == list(range(4, 46, 5))  # every 5th batch, in that batch's row
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert lrs[0] == pytest.approx(0.2) and lrs[-1] < lrs[0] / 10  # the cosine schedule

    report = tmp_path / "report.html"
    names = [r["name"] for r in runs]
    made = gitexp("report", *names, "-o", str(report), cwd=repo, timeout=120)
    assert made.returncode == 0, made.stderr
    assert '"metric":"gradients/0.weight"' in report.read_text()
    plot = gitexp("plot", "val/accuracy", "--runs", *names, "-o", str(tmp_path / "a.png"), cwd=repo)
    assert plot.returncode == 0, plot.stderr
