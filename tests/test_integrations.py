"""Framework integrations (issue 19): a real tiny training with each framework, then the
run read back through the read API and the ``git`` binary.

Each training runs in its own process, as a user's script would (the run is finalized
at exit), on CPU with models built from configs and random data: no downloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, require

import gitexp as gx

pytestmark = pytest.mark.integration


def train(repo: Path, script: str, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` in ``repo`` as ``python train_fw.py``; the run it recorded."""
    (repo / "train_fw.py").write_text(script)
    done = subprocess.run(
        [sys.executable, "train_fw.py"],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = gx.Api(repo).runs()
    assert len(runs) >= 1, done.stderr
    return runs[0]


def dvc_project(repo: Path) -> None:
    """A DVC project: checkpoints are kept as artifacts, in DVC's cache."""
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dvc")


def rows_with(run: Any, key: str) -> list[dict[str, Any]]:
    return [row for row in run.scan_history() if key in row]


def git_summary(repo: Path, run_id: str) -> dict[str, Any]:
    """What a teammate without gitexp reads: the run's summary straight from git."""
    text = git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/metrics.json")
    return dict(json.loads(text)["summary"])


LIGHTNING = """\
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
from gitexp.integrations.lightning import GitexpLogger


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.1, hidden=4):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
loader = DataLoader(TensorDataset(torch.randn(32, 3), torch.randn(32, 1)), batch_size=8)
logger = GitexpLogger(project="lit", log_model=True, tags=["tiny"])
trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, accelerator="cpu",
                     enable_progress_bar=False, enable_model_summary=False,
                     default_root_dir="out")
trainer.fit(Tiny(), loader, loader)
assert logger.experiment is logger.experiment
print("VERSION", logger.version, trainer.checkpoint_callback.best_model_path)
"""


@pytest.mark.slow
def test_lightning_logger_records_hparams_steps_and_checkpoints(repo: Path) -> None:
    require("lightning")
    dvc_project(repo)
    run = train(repo, LIGHTNING)
    assert run.project == "lit"
    assert run.tags == ["tiny"]
    assert run.config == {"lr": 0.1, "hidden": 4}
    # 4 batches a epoch, 2 epochs: a row per global step, validation merged into the
    # last step of each epoch.
    assert [row["_step"] for row in rows_with(run, "train_loss")] == list(range(8))
    assert [(row["_step"], row["epoch"]) for row in rows_with(run, "val_loss")] == [(3, 0), (7, 1)]
    assert set(git_summary(repo, run.id)) >= {"train_loss", "val_loss", "epoch"}
    kept = run.logged_artifacts()
    assert any(str(item.get("path", "")).endswith(".ckpt") for item in kept), kept
    # version is the run's id: the checkpoints land in a folder named after the run.
    ckpt = next((repo / "out").rglob("*.ckpt"))
    assert run.id in ckpt.parts


@pytest.mark.slow
def test_lightning_logger_under_ddp_records_one_run_from_rank_zero(repo: Path) -> None:
    require("lightning")
    require("pytorch_lightning")
    # Through the standalone package name (lightning installs it too), whose Trainer
    # sets the rank on its own copy of rank_zero_only: the logger's copy reads it from
    # the launcher's environment, the weaker of the two paths.
    script = (
        LIGHTNING.replace("import lightning.pytorch as pl", "import pytorch_lightning as pl")
        .replace(
            'GitexpLogger(project="lit", log_model=True, tags=["tiny"])',
            'GitexpLogger(project="lit")',
        )
        .replace('accelerator="cpu",', 'accelerator="cpu", strategy="ddp", devices=2,')
    )
    run = train(repo, script)
    assert len(gx.Api(repo).runs()) == 1  # rank 1 wrote nothing
    assert run.config == {"lr": 0.1, "hidden": 4}
    # 32 samples, batches of 8, split over two ranks: two steps an epoch.
    assert [row["_step"] for row in rows_with(run, "train_loss")] == [0, 1, 2, 3]


TRANSFORMERS = """\
import os
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from gitexp.integrations.transformers import GitexpCallback


class Random(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        ids = torch.randint(0, 32, (8,), generator=torch.Generator().manual_seed(index))
        return {"input_ids": ids, "labels": ids}


torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=1, n_head=2))
args = TrainingArguments(
    output_dir="out", max_steps=4, per_device_train_batch_size=4, learning_rate=0.01,
    logging_steps=1, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=4,
    report_to=[], use_cpu=True, hub_token=os.environ["HUB_TOKEN"], run_name="tiny-gpt2",
)
trainer = Trainer(model=model, args=args, train_dataset=Random(), eval_dataset=Random(),
                  callbacks=[GitexpCallback(project="hf", log_checkpoints=True)])
trainer.train()
"""
HUB_TOKEN = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3j"


@pytest.mark.slow
def test_transformers_callback_records_args_model_config_and_logs(repo: Path) -> None:
    require("transformers")
    dvc_project(repo)
    run = train(repo, TRANSFORMERS, env={"HUB_TOKEN": HUB_TOKEN})
    assert run.project == "hf"
    assert run.name == "tiny-gpt2"
    config = run.config
    assert config["learning_rate"] == 0.01
    assert config["max_steps"] == 4
    assert config["model"]["n_embd"] == 16
    assert config["model"]["model_type"] == "gpt2"
    assert config["model_num_parameters"] > 0
    # The hub token never reaches git, in any object of the run.
    assert HUB_TOKEN not in json.dumps(config)
    assert HUB_TOKEN not in git(repo, "log", "-p", "--all", "--format=%B")
    # A training row per step (loss, learning_rate), evaluation rows at steps 2 and 4.
    assert [row["_step"] for row in rows_with(run, "loss")] == [1, 2, 3, 4]
    assert all("learning_rate" in row for row in rows_with(run, "loss"))
    assert [row["_step"] for row in rows_with(run, "eval_loss")] == [2, 4]
    summary = git_summary(repo, run.id)
    assert summary["global_step"] == 4
    assert summary["train_runtime"] > 0
    assert "train_runtime" not in {key for row in run.scan_history() for key in row}
    kept = [(item.get("path"), item.get("name")) for item in run.logged_artifacts()]
    assert kept == [("out/checkpoint-4", "checkpoint-4")], run.logged_artifacts()


KERAS = """\
import numpy as np
import keras
from gitexp.integrations.keras import GitexpCallback

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="hidden"),
                          keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
x, y = np.random.rand(32, 3), np.random.rand(32, 1)
model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
          callbacks=[GitexpCallback(project="keras", log_batch=True)])
"""


@pytest.mark.slow
def test_keras_callback_records_epochs_batches_lr_and_summary(repo: Path) -> None:
    require("keras", load=False)
    run = train(repo, KERAS, env={"KERAS_BACKEND": "torch"})
    epochs = rows_with(run, "val_loss")
    assert [row["epoch"] for row in epochs] == [0, 1, 2]
    assert all(row["learning_rate"] == pytest.approx(0.05) for row in epochs)
    assert all({"loss", "mae", "val_mae"} <= set(row) for row in epochs)
    batches = rows_with(run, "batch/loss")
    assert len(batches) == 6  # 24 training samples in batches of 16, three epochs
    assert {row["epoch"] for row in batches} == {0, 1, 2}
    config = run.config
    assert config["fit"]["epochs"] == 3
    assert config["optimizer"]["learning_rate"] == pytest.approx(0.05)
    assert config["model_params"] == 3 * 2 + 2 + 2 + 1
    assert "hidden (Dense)" in config["model_summary"]


ACCELERATE = """\
import torch
from accelerate import Accelerator
from gitexp.integrations.accelerate import GitexpTracker

accelerator = Accelerator(cpu=True, log_with=GitexpTracker(run_name="acc-run", project="acc"))
accelerator.init_trackers("ignored-for-custom-trackers", config={"lr": 0.1, "batch": 4})
model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model, optimizer = accelerator.prepare(model, optimizer)
torch.manual_seed(0)
for step in range(5):
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    loss = torch.nn.functional.mse_loss(model(x), y)
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad()
    accelerator.log({"loss": loss.item(), "lr": 0.1}, step=step * 10)
accelerator.end_training()
"""


@pytest.mark.slow
def test_accelerate_tracker_records_config_and_steps(repo: Path) -> None:
    require("accelerate")
    run = train(repo, ACCELERATE)
    assert (run.name, run.project, run.state) == ("acc-run", "acc", "finished")
    assert run.config == {"lr": 0.1, "batch": 4}
    assert [row["_step"] for row in rows_with(run, "loss")] == [0, 10, 20, 30, 40]


XGBOOST = """\
import numpy as np
import xgboost
from gitexp.integrations.xgboost import GitexpXGBoostCallback

rng = np.random.default_rng(0)
x = rng.random((64, 4))
y = (x[:, 0] > 0.5).astype(int)
model = xgboost.XGBClassifier(n_estimators=5, max_depth=2, eval_metric=["logloss", "error"],
                              callbacks=[GitexpXGBoostCallback(project="boost")])
model.fit(x[:48], y[:48], eval_set=[(x[:48], y[:48]), (x[48:], y[48:])], verbose=False)
"""


@pytest.mark.slow
def test_xgboost_callback_records_each_round(repo: Path) -> None:
    require("xgboost")
    run = train(repo, XGBOOST)
    rows = rows_with(run, "validation_1-logloss")
    assert [row["_step"] for row in rows] == [0, 1, 2, 3, 4]
    assert all(
        {"validation_0-logloss", "validation_0-error", "validation_1-error"} <= set(row)
        for row in rows
    )
    assert rows[-1]["validation_0-logloss"] < rows[0]["validation_0-logloss"]
    assert run.config["xgboost"]["name"] == "gbtree"


LIGHTGBM = """\
import numpy as np
import lightgbm
from gitexp.integrations.lightgbm import GitexpLightGBMCallback

rng = np.random.default_rng(0)
x = rng.random((200, 4))
y = (x[:, 0] > 0.5).astype(int)
train = lightgbm.Dataset(x[:150], y[:150])
valid = lightgbm.Dataset(x[150:], y[150:], reference=train)
params = {"objective": "binary", "num_leaves": 4, "learning_rate": 0.3, "verbose": -1,
          "min_data_in_leaf": 5}
lightgbm.train(params, train, num_boost_round=4, valid_sets=[valid],
               callbacks=[GitexpLightGBMCallback(project="boost")])
"""


@pytest.mark.slow
def test_lightgbm_callback_records_each_iteration(repo: Path) -> None:
    require("lightgbm")
    run = train(repo, LIGHTGBM)
    rows = rows_with(run, "valid_0-binary_logloss")
    assert [row["_step"] for row in rows] == [0, 1, 2, 3]
    assert rows[-1]["valid_0-binary_logloss"] < rows[0]["valid_0-binary_logloss"]
    assert run.config["lightgbm"]["num_leaves"] == 4


SKLEARN = """\
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from gitexp.integrations.sklearn import log_estimator

x, y = make_classification(n_samples=80, n_features=4, n_classes=3, n_informative=3,
                           n_redundant=0, random_state=0)
model = LogisticRegression(C=0.5, max_iter=200).fit(x[:60], y[:60])
scores = log_estimator(model, x[60:], y[60:], project="sk")
print("ACCURACY", scores["accuracy"])
"""


@pytest.mark.slow
def test_sklearn_log_estimator_records_params_scores_and_matrix(repo: Path) -> None:
    require("sklearn")
    run = train(repo, SKLEARN)
    assert run.config["estimator"] == "LogisticRegression"
    assert run.config["params"]["C"] == 0.5
    summary = git_summary(repo, run.id)
    assert 0 <= summary["accuracy"] <= 1 and 0 <= summary["f1"] <= 1
    assert summary["confusion_matrix_labels"] == [0, 1, 2]
    matrix = summary["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == 20
    correct = sum(matrix[i][i] for i in range(3))
    assert summary["accuracy"] == pytest.approx(correct / 20)
    # Also a gitexp.plot.confusion_matrix chart (issue 20): its table, read with git,
    # holds the same counts, one row per (actual, predicted) pair.
    chart = summary["confusion_matrix_chart"]
    assert chart["_type"] == "chart" and chart["chart"] == "confusion_matrix"
    path = chart["table"]["path"]
    table = json.loads(git(repo, "cat-file", "blob", f"refs/gitexp/runs/{run.id}:{path}"))
    assert table["columns"] == ["Actual", "Predicted", "nPredictions"]
    cells = {(a, p): n for a, p, n in table["data"]}
    assert cells == {(str(a), str(p)): matrix[a][p] for a in range(3) for p in range(3)}


OPTUNA = """\
import optuna
from gitexp.integrations.optuna import GitexpOptunaCallback

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    x = trial.suggest_float("x", -2, 2)
    for step in range(3):
        trial.report((x - 1) ** 2 + step, step)
    return (x - 1) ** 2


study = optuna.create_study(study_name="quad", sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(objective, n_trials=3, callbacks=[GitexpOptunaCallback(metric_name="loss")])
"""


@pytest.mark.slow
def test_optuna_callback_records_each_trial_as_a_run_of_the_study_group(repo: Path) -> None:
    require("optuna")
    train(repo, OPTUNA)
    runs = sorted(gx.Api(repo).runs(), key=lambda r: r.name)
    assert [r.name for r in runs] == ["quad-trial-0", "quad-trial-1", "quad-trial-2"]
    for number, run in enumerate(runs):
        assert run.group == "quad"
        assert run.config["optuna"] == {"study": "quad", "trial": number}
        x = run.config["x"]
        summary = git_summary(repo, run.id)
        assert summary["loss"] == pytest.approx((x - 1) ** 2)
        assert summary["trial_state"] == "complete"
        assert [row["_step"] for row in rows_with(run, "loss")] == [0, 1, 2]


def test_import_gitexp_imports_no_integration_nor_framework() -> None:
    code = (
        "import sys, gitexp\n"
        "heavy = ('gitexp.integrations', 'lightning', 'transformers', 'keras', 'accelerate',\n"
        "         'xgboost', 'lightgbm', 'optuna', 'sklearn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "             or m.startswith('gitexp.integrations')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
