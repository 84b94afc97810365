"""``gitexp.Histogram``, ``gitexp.watch`` and ``gitexp.define_metric``, read back from git."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs

import gitexp as gx


def history(repo: Path, run_id: str) -> list[dict[str, Any]]:
    ref = f"refs/gitexp/runs/{run_id}"
    names = git(repo, "ls-tree", "--name-only", f"{ref}:.gitexp/history").split()
    rows = []
    for name in names:
        text = git(repo, "show", f"{ref}:.gitexp/history/{name}")
        rows += [json.loads(line) for line in text.splitlines()]
    return rows


def run_json(repo: Path, run_id: str) -> dict[str, Any]:
    return dict(json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json")))


# -- Histogram ---------------------------------------------------------------------------------


def test_histogram_of_a_list_is_compact_and_counts_everything() -> None:
    values = [0.0, 1.0, 1.0, 2.0, 3.0, float("nan"), float("inf")]
    data = gx.Histogram(values, num_bins=3).to_gitexp_json()
    assert data == {
        "_type": "histogram",
        "bins": [0.0, 1.0, 2.0, 3.0],
        "counts": [1, 2, 2],
        "nonfinite": 2,
    }
    assert json.loads(json.dumps(data, allow_nan=False)) == data  # strict JSON


def test_histogram_defaults_to_64_bins_of_a_numpy_array() -> None:
    np = pytest.importorskip("numpy")
    data = gx.Histogram(np.random.default_rng(0).normal(size=(100, 50))).to_gitexp_json()
    assert len(data["bins"]) == 65 and len(data["counts"]) == 64
    assert sum(data["counts"]) == 5000
    assert all(a < b for a, b in pairwise(data["bins"]))
    assert "nonfinite" not in data
    assert len(json.dumps(data)) < 1200  # a summary, not the 5,000 values


def test_histogram_keeps_precision_when_rounding_would_merge_edges() -> None:
    data = gx.Histogram([1.0, 1.0 + 1e-9], num_bins=4).to_gitexp_json()
    assert all(a < b for a, b in pairwise(data["bins"]))


def test_histogram_from_np_histogram_and_bad_input() -> None:
    data = gx.Histogram(np_histogram=([3, 4], [0.0, 0.5, 1.0])).to_gitexp_json()
    assert data["counts"] == [3, 4] and data["bins"] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="one more edge"):
        gx.Histogram(np_histogram=([1, 2], [0.0, 1.0]))
    with pytest.raises(ValueError, match="num_bins"):
        gx.Histogram([1.0], num_bins=0)
    with pytest.raises(TypeError, match="needs numbers"):
        gx.Histogram(["a", "b"])
    assert gx.Histogram([float("nan")]).to_gitexp_json() == {
        "_type": "histogram",
        "bins": [],
        "counts": [],
        "nonfinite": 1,
    }


def test_histogram_of_a_tensor_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    tensor = torch.linspace(-1, 1, 1001).reshape(7, 143)
    from_torch = gx.Histogram(tensor, num_bins=8).to_gitexp_json()
    from_numpy = gx.Histogram(tensor.numpy(), num_bins=8).to_gitexp_json()
    assert sum(from_torch["counts"]) == 1001
    assert from_torch["bins"] == pytest.approx(from_numpy["bins"], abs=1e-6)
    assert np.abs(np.array(from_torch["counts"]) - from_numpy["counts"]).max() <= 1
    half = gx.Histogram(torch.ones(10, dtype=torch.float16)).to_gitexp_json()
    assert sum(half["counts"]) == 10 and half["bins"][0] < 1 < half["bins"][-1]


HISTOGRAM_SCRIPT = """\
import gitexp
run = gitexp.init()
for step in range(4):
    gitexp.log({"loss": 1.0 / (step + 1),
                "weights": gitexp.Histogram([step, step + 1, step + 1], num_bins=2)})
gitexp.finish()
"""


def test_logged_histograms_are_in_the_history_not_in_the_listing_row(repo: Path) -> None:
    (repo / "train.py").write_text(HISTOGRAM_SCRIPT)
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    rows = history(repo, run_id)
    assert [row["weights"]["counts"] for row in rows] == [[1, 2]] * 4
    assert rows[3]["weights"]["bins"] == [3.0, 3.5, 4.0]
    listing = json.loads(gitexp("ls", "--json", cwd=repo).stdout)[0]
    assert set(listing["metrics"]) == {"loss"}  # the listing row stays small
    metrics = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/metrics.json"))
    assert metrics["summary"]["weights"]["_type"] == "histogram"
    assert metrics["metrics"]["weights"]["count"] == 4


# -- define_metric ---------------------------------------------------------------------------


DEFINE_SCRIPT = """\
import gitexp
gitexp.init()
gitexp.define_metric("val/*", goal="max")
gitexp.define_metric("loss", goal="minimize", summary="min")
try:
    gitexp.define_metric("x", goal="up")
except ValueError as exc:
    print("rejected:", exc)
gitexp.log({"loss": 0.5})
gitexp.finish()
"""


@pytest.mark.parametrize("wrapped", [True, False], ids=["under-gitexp-run", "direct"])
def test_define_metric_is_recorded_in_run_json(repo: Path, wrapped: bool) -> None:
    (repo / "train.py").write_text(DEFINE_SCRIPT)
    if wrapped:
        done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    else:
        done = subprocess.run(
            [sys.executable, "train.py"], cwd=repo, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert "rejected: goal must be 'minimize' or 'maximize', got 'up'" in done.stdout
    (run_id,) = run_refs(repo)
    definitions = run_json(repo, run_id)["extra"]["metric_definitions"]
    assert definitions == {
        "val/*": {"goal": "maximize"},
        "loss": {"goal": "minimize", "summary": "min"},
    }


# -- watch -------------------------------------------------------------------------------------

WATCH_SCRIPT = """\
import torch
import gitexp

run = gitexp.init()
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
model[2].bias.requires_grad_(False)
gitexp.watch(model, log="all", log_freq=3)
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
x, y = torch.randn(8, 4), torch.randn(8, 2)
for step in range(7):
    loss = torch.nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.eval()
        model(x)  # evaluation passes neither count nor log
        model.train()
    gitexp.log({"loss": loss.item()})
gitexp.unwatch(model)
for step in range(3):
    model(x).sum().backward()
    gitexp.log({"after": 1.0})
gitexp.finish()
"""


@pytest.mark.slow
def test_watch_logs_histograms_every_log_freq_training_passes(repo: Path) -> None:
    pytest.importorskip("torch")
    (repo / "train.py").write_text(WATCH_SCRIPT)
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    rows = history(repo, run_id)
    assert len(rows) == 10
    logged = {row["_step"]: sorted(k for k in row if "/" in k) for row in rows}
    params = ["0.bias", "0.weight", "2.bias", "2.weight"]
    expected = sorted(
        [f"parameters/{p}" for p in params] + [f"gradients/{p}" for p in params if p != "2.bias"]
    )
    assert logged == {
        0: [],
        1: [],
        2: expected,  # the 3rd training forward pass and its backward
        3: [],
        4: [],
        5: expected,
        6: [],
        7: [],  # after unwatch: nothing
        8: [],
        9: [],
    }
    weight = rows[2]["parameters/0.weight"]
    assert sum(weight["counts"]) == 12 and len(weight["bins"]) == 65
    assert sum(rows[5]["gradients/2.weight"]["counts"]) == 6
    assert all(math.isfinite(e) for e in rows[5]["gradients/0.bias"]["bins"])


def test_watch_needs_a_run_and_a_module() -> None:
    from gitexp.sdk import session

    saved = session._current
    session._current = None
    try:
        with pytest.raises(RuntimeError, match=r"call gitexp\.init"):
            gx.watch(object())
        run = gx.init(mode="disabled")
        with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
            gx.watch(object())
        with pytest.raises(ValueError, match="log must be one of"):
            gx.watch(object(), log="weights")
        with pytest.raises(ValueError, match="log_freq"):
            gx.watch(object(), log_freq=0)
        run.finish()
    finally:
        session._current = saved
