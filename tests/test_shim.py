"""``gitexp shim``: ``import wandb`` answered by gitexp, for code that cannot be edited
(issue 19).  The shim goes into a throwaway site folder that the training process adds
with ``site.addsitedir`` (from a ``sitecustomize``), as a venv's site-packages would be
read at start; then Lightning's real ``WandbLogger``, Hugging Face's
``report_to="wandb"`` and Accelerate's ``log_with="wandb"`` train and record runs.
These tests need an environment without the real wandb package.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, require

import gitexp as gx
from gitexp.integrations import shim


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_install_status_uninstall(site: Path, tmp_path: Path) -> None:
    done = gitexp("shim", "status", "--site", str(site), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["installed"] is False
    done = gitexp("shim", "install", "--site", str(site), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wandb shim installed" in done.stdout
    assert (site / "gitexp_wandb_shim.pth").read_text().startswith("import gitexp_wandb_shim")
    dist = site / shim.DIST_INFO
    assert (dist / "INSTALLER").read_text().strip() == "gitexp-shim"
    assert "Name: wandb" in (dist / "METADATA").read_text()
    # Compiled at install (no Python start compiles it), and listed for pip uninstall.
    assert "__pycache__/gitexp_wandb_shim." in (dist / "RECORD").read_text()
    assert list((site / "__pycache__").glob("gitexp_wandb_shim.*.pyc"))
    status = json.loads(
        gitexp("shim", "status", "--site", str(site), "--json", cwd=tmp_path).stdout
    )
    assert status["installed"] is True and status["real_wandb"] is None
    # A second install rewrites the same files; uninstall removes them all.
    assert gitexp("shim", "install", "--site", str(site), cwd=tmp_path).returncode == 0
    done = gitexp("shim", "uninstall", "--site", str(site), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(site)) == []
    done = gitexp("shim", "uninstall", "--site", str(site), cwd=tmp_path)
    assert "was not installed" in done.stdout


def test_install_refuses_while_the_real_wandb_is_installed(site: Path, tmp_path: Path) -> None:
    (site / "wandb").mkdir()
    (site / "wandb" / "__init__.py").write_text("__version__ = '0.19.0'\n")
    done = gitexp("shim", "install", "--site", str(site), cwd=tmp_path)
    assert done.returncode == 2
    assert "real wandb package is installed" in done.stderr
    assert "pip uninstall wandb" in done.stderr and "--force" in done.stderr
    assert not (site / "gitexp_wandb_shim.pth").exists()
    done = gitexp("shim", "install", "--site", str(site), "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "it wins while importable" in done.stdout
    # The hook steps aside: the real package is what `import wandb` finds.
    code = "import wandb; print(wandb.__version__)"
    assert run_with_site(site, tmp_path, ["-c", code]).stdout.strip() == "0.19.0"


def test_uninstall_leaves_a_wandb_it_did_not_write(site: Path, tmp_path: Path) -> None:
    dist = site / shim.DIST_INFO
    dist.mkdir()
    (dist / "INSTALLER").write_text("pip\n")
    done = gitexp("shim", "uninstall", "--site", str(site), cwd=tmp_path)
    assert done.returncode == 2
    assert "was not written by gitexp" in done.stderr
    assert (dist / "INSTALLER").exists()


def test_a_missing_site_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = gitexp("shim", "install", "--site", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.returncode == 2
    assert "pass an existing site-packages folder" in done.stderr


def run_with_site(
    site: Path, cwd: Path, argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Python started with ``site`` read as a site-packages folder (its .pth run)."""
    hook = site.parent / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site)!r})\n")
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def shimmed(site: Path, tmp_path: Path) -> Path:
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("the real wandb is installed here: the shim steps aside for it")
    assert gitexp("shim", "install", "--site", str(site), cwd=tmp_path).returncode == 0
    return site


def train(site: Path, repo: Path, script: str) -> Any:
    (repo / "train_wandb.py").write_text(script)
    done = run_with_site(site, repo, ["train_wandb.py"])
    assert done.returncode == 0, done.stdout + done.stderr
    runs = gx.Api(repo).runs()
    assert len(runs) == 1, done.stderr
    return runs[0]


def test_the_metadata_libraries_check(shimmed: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.metadata, importlib.util, wandb, wandb.sdk.lib, wandb.wandb_run\n"
        "from wandb.sdk.lib.config_util import ConfigError\n"
        "assert importlib.util.find_spec('wandb') is not None\n"
        "assert wandb.run is None and hasattr(wandb, 'run')\n"
        "print(importlib.metadata.version('wandb'), wandb.__version__)\n"
    )
    done = run_with_site(shimmed, tmp_path, ["-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [shim.VERSION, shim.VERSION]


def test_wandb_mode_disabled_records_nothing(shimmed: Path, repo: Path) -> None:
    code = "import wandb\nrun = wandb.init(project='p')\nwandb.log({'a': 1})\nprint(run.disabled)\n"
    done = run_with_site(shimmed, repo, ["-c", code], env={"WANDB_MODE": "disabled"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert git(repo, "for-each-ref", "refs/gitexp/") == ""


LIGHTNING = """\
import torch
import lightning.pytorch as pl
from lightning.pytorch.loggers import WandbLogger
from torch.utils.data import DataLoader, TensorDataset


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


loader = DataLoader(TensorDataset(torch.randn(16, 3), torch.randn(16, 1)), batch_size=4)
trainer = pl.Trainer(max_epochs=2, logger=WandbLogger(project="shimmed"), log_every_n_steps=1,
                     accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False)
trainer.fit(Tiny(), loader)
"""


@pytest.mark.integration
@pytest.mark.slow
def test_lightning_wandb_logger_records_a_run(shimmed: Path, repo: Path) -> None:
    require("lightning")
    run = train(shimmed, repo, LIGHTNING)
    assert run.project == "shimmed"
    assert run.config == {"lr": 0.1}
    rows = [row for row in run.scan_history() if "train_loss" in row]
    assert [row["trainer/global_step"] for row in rows] == list(range(8))


TRANSFORMERS = """\
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class Random(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        ids = torch.randint(0, 32, (6,), generator=torch.Generator().manual_seed(index))
        return {"input_ids": ids, "labels": index % 2}


config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=16, max_position_embeddings=8)
args = TrainingArguments(output_dir="out", max_steps=3, per_device_train_batch_size=4,
                         logging_steps=1, save_strategy="no", report_to="wandb", use_cpu=True,
                         run_name="tiny-bert")
Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=Random()).train()
"""


@pytest.mark.integration
@pytest.mark.slow
def test_transformers_report_to_wandb_records_a_run(shimmed: Path, repo: Path) -> None:
    require("transformers")
    run = train(shimmed, repo, TRANSFORMERS)
    assert run.name == "tiny-bert"
    assert run.config["max_steps"] == 3
    assert run.config["hidden_size"] == 16  # the model's config, merged as wandb does
    rows = [row for row in run.scan_history() if "train/loss" in row]
    assert [row["train/global_step"] for row in rows] == [1, 2, 3]
    assert run.summary["train_runtime"] > 0


ACCELERATE = """\
import torch
from accelerate import Accelerator

accelerator = Accelerator(cpu=True, log_with="wandb")
accelerator.init_trackers("shimmed-acc", config={"lr": 0.1})
for step in range(3):
    accelerator.log({"loss": 1.0 / (step + 1)}, step=step)
accelerator.end_training()
"""


@pytest.mark.integration
@pytest.mark.slow
def test_accelerate_log_with_wandb_records_a_run(shimmed: Path, repo: Path) -> None:
    require("accelerate")
    run = train(shimmed, repo, ACCELERATE)
    assert (run.project, run.state) == ("shimmed-acc", "finished")
    assert run.config == {"lr": 0.1}
    assert [row["loss"] for row in run.scan_history()] == [1.0, 0.5, pytest.approx(1 / 3)]


ARTIFACTS = """\
import glob, os, tempfile
import wandb

run = wandb.init(project="arts", config={"lr": 0.1}, dir="ignored", anonymous="allow",
                 settings=wandb.Settings(start_method="thread"))
assert wandb.run is run and run.url == "refs/gitexp/runs/" + run.id and run.project == "arts"
wandb.log({"loss": 0.5, "sample": wandb.Image(None)})
with open("weights.bin", "wb") as handle:
    handle.write(b"w" * 100)
artifact = wandb.Artifact("model", type="model")
artifact.add_file("weights.bin")
with artifact.new_file("architecture.txt", mode="w") as handle:
    handle.write("Linear(3, 1)")
run.log_artifact(artifact, aliases=["latest"])
with open("extra.log", "w") as handle:
    handle.write("saved")
wandb.save("extra.*")
print("STAGING", artifact.paths()[-1])
"""


@pytest.mark.slow
def test_artifacts_of_a_wandb_script_are_kept(shimmed: Path, repo: Path) -> None:
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("*.bin\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dvc")
    (repo / "train_wandb.py").write_text(ARTIFACTS)
    done = run_with_site(shimmed, repo, ["train_wandb.py"])
    assert done.returncode == 0, done.stderr
    assert "cannot store a Image" in done.stderr  # media: warned about, not a crash
    run = gx.Api(repo).runs()[0]
    assert run.project == "arts" and run.config == {"lr": 0.1}
    kept = {Path(str(item.get("path"))).name for item in run.logged_artifacts()}
    staging = done.stdout.split("STAGING", 1)[1].strip()
    assert {"weights.bin", "extra.log", Path(staging).name} <= kept, run.logged_artifacts()
    # new_file writes where wandb writes, a folder later snapshots leave out.
    assert Path(staging) == repo / "wandb" / f"run-gitexp-{run.id}" / "artifacts" / "model"
    assert (Path(staging) / "architecture.txt").read_text() == "Linear(3, 1)"
    second = run_with_site(shimmed, repo, ["-c", "import wandb; wandb.init(); wandb.finish()"])
    assert second.returncode == 0, second.stderr
    assert not any(p.startswith("wandb/") for p in gx.Api(repo).runs()[0].files())
