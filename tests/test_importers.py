"""Importers and export on runs made by the real tools (issue 19).

TensorBoard event files come from PyTorch's SummaryWriter, MLflow runs from MLflow itself
(a file store and sqlite), wandb runs from wandb in offline mode in an environment of its
own (wandb is kept out of the test install: the wandb drop-in shim is tested without it).
Each imported run must show the values the source script logged in ``ls``, ``compare``
and the read API, import again to no change, and be refused by restore, rerun, branch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import REQUIRE_INTEGRATIONS, git, gitexp, require, run_refs

pytestmark = pytest.mark.integration


def _ls(repo: Path) -> list[dict[str, Any]]:
    done = gitexp("ls", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _history(repo: Path, run_id: str) -> list[dict[str, Any]]:
    """The rows as ``gitexp.Api().run(id).history()`` gives them (in a fresh process)."""
    code = (
        "import json, sys, gitexp\n"
        "rows = gitexp.Api().run(sys.argv[1]).history(pandas=False)\n"
        "print(json.dumps(rows))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, run_id], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _compared(repo: Path, *runs: str) -> dict[tuple[str, str], list[Any]]:
    """``gitexp compare --all --json``: {(section, key): one value per run}."""
    done = gitexp("compare", *runs, "--all", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    return {(row["section"], row["key"]): row["values"] for row in rows}


def _import(repo: Path, *args: str) -> dict[str, Any]:
    done = gitexp("import", *args, "--json", cwd=repo, timeout=180)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _check_imported_run(repo: Path, run_id: str) -> None:
    """What every imported run must be: valid, empty snapshot, refused by code commands."""
    ref = f"refs/gitexp/runs/{run_id}"
    tree = git(repo, "ls-tree", "--name-only", ref).split()
    assert set(tree) <= {".gitexp", ".gitexp-artifacts.dvc"}  # no code: none to invent
    snapshot = json.loads(git(repo, "show", f"{ref}:.gitexp/snapshot.json"))
    assert snapshot["imported"] is True
    git(repo, "fsck", "--strict")
    shown = gitexp("show", run_id, cwd=repo)  # passes read/trust.py's checks (else exit 7)
    assert shown.returncode == 0, shown.stderr
    assert "imported from" in shown.stdout and "files changed" not in shown.stdout
    for command in (["restore", run_id], ["rerun", run_id, "--yes"], ["branch", run_id, "b"]):
        done = gitexp(*command, cwd=repo)
        assert done.returncode == 6, (command, done.stderr)
        assert "cannot invent code" in done.stderr


def _reimport_changes_nothing(repo: Path, *args: str) -> None:
    before = run_refs(repo)
    again = _import(repo, *args)
    assert again["runs"] and not any(entry["imported"] for entry in again["runs"])
    assert run_refs(repo) == before
    plain = gitexp("import", *args, cwd=repo, timeout=180)
    assert "nothing imported" in plain.stderr


# -- TensorBoard --------------------------------------------------------------------------

TB_SCRIPT = """
import sys
import numpy as np
from torch.utils.tensorboard import SummaryWriter

for name, scale in (("exp-a", 1.0), ("exp-b", 2.0)):
    writer = SummaryWriter(f"{sys.argv[1]}/{name}")
    for step in range(4):
        writer.add_scalar("train/loss", scale / (step + 1), step)
        writer.add_histogram("weights", np.arange(10, dtype=float) * (step + 1), step)
    writer.add_text("note", "hello " + name, 3)
    writer.add_image("picture", np.zeros((3, 4, 4)), 0)
    writer.close()
"""


def _write_tensorboard(folder: Path) -> None:
    require("torch")
    require("tensorboard")
    done = subprocess.run(
        [sys.executable, "-c", TB_SCRIPT, str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_tensorboard_import_shows_the_logged_values(repo: Path, tmp_path: Path) -> None:
    logs = tmp_path / "tb"
    _write_tensorboard(logs)
    report = _import(repo, "tensorboard", str(logs))
    runs = {entry["name"]: entry for entry in report["runs"]}
    assert set(runs) == {"exp-a", "exp-b"}
    picture = f"refs/gitexp/runs/{runs['exp-a']['id']}:.gitexp/files/media/picture/0.png"
    assert git(repo, "cat-file", "-t", picture).strip() == "blob"  # images: files of the run
    rows = {row["name"]: row for row in _ls(repo)}
    assert rows["exp-b"]["metrics"]["train/loss"]["last"] == pytest.approx(0.5)
    assert rows["exp-b"]["metrics"]["train/loss"]["max"] == pytest.approx(2.0)
    history = _history(repo, runs["exp-a"]["id"])
    assert [row["_step"] for row in history] == [0, 1, 2, 3]
    assert [row["train/loss"] for row in history] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    assert history[3]["note"] == "hello exp-a"
    weights = history[1]["weights"]
    assert weights["_type"] == "histogram" and sum(weights["counts"]) == 10
    assert weights["bins"][0] == 0 and weights["bins"][-1] == 18
    compared = _compared(repo, runs["exp-a"]["id"], runs["exp-b"]["id"])
    loss = next(v for (_section, key), v in compared.items() if key == "train/loss")
    assert loss == pytest.approx([0.25, 0.5])
    _check_imported_run(repo, runs["exp-a"]["id"])
    _reimport_changes_nothing(repo, "tensorboard", str(logs))


# -- MLflow -------------------------------------------------------------------------------

MLFLOW_SCRIPT = """
import sys
import mlflow

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("vision")
with mlflow.start_run(run_name="resnet-small") as run:
    mlflow.log_params({"lr": 0.01, "depth": 18, "optimizer": "adam", "pretrained": True})
    mlflow.log_param("db_password", "hunter2hunter2")  # never committed
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        if step % 2 == 0:
            mlflow.log_metric("acc", step * 0.2, step=step)
    mlflow.set_tag("team", "vision")
    mlflow.set_tag("mlflow.source.git.commit", sys.argv[2])
    mlflow.log_text("weights summary", "notes/summary.txt")
    mlflow.log_text("w" * (2 * 1024 * 1024), "model/weights.txt")  # over 1 MiB: to DVC
print(run.info.run_id)
"""


def _mlflow_run(where: Path, uri: str, commit: str) -> str:
    require("mlflow")
    env = dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true")
    done = subprocess.run(
        [sys.executable, "-c", MLFLOW_SCRIPT, uri, commit],
        cwd=where,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_mlflow_import_keeps_params_metrics_tags_and_commit(
    repo: Path, tmp_path: Path, store: str
) -> None:
    if store == "sqlite":
        require("sqlalchemy")
    head = git(repo, "rev-parse", "HEAD").strip()
    where = tmp_path / "ml"
    where.mkdir()
    uri = f"sqlite:///{where / 'mlflow.db'}" if store == "sqlite" else str(where / "mlruns")
    original = _mlflow_run(where, uri if store == "sqlite" else f"file:{uri}", head)
    if store == "file":  # a DVC project keeps the large artifact; without one, a note says so
        subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    report = _import(repo, "mlflow", uri)
    (entry,) = report["runs"]
    assert entry["original_id"] == original and entry["imported"]
    run_id = entry["id"]
    (row,) = _ls(repo)
    assert row["name"] == "resnet-small" and row["project"] == "vision"
    assert row["config"] == {
        "lr": 0.01,
        "depth": 18,
        "optimizer": "adam",
        "pretrained": True,
        "db_password": "[redacted by gitexp]",
    }
    assert row["metrics"]["loss"]["last"] == pytest.approx(0.2)
    assert row["metrics"]["acc"]["max"] == pytest.approx(0.8)
    assert row["baseline"] == head  # the commit MLflow recorded is in this repository
    assert "team=vision" in row["tags"]
    compared = {key: v[0] for (_section, key), v in _compared(repo, run_id).items()}
    assert compared["lr"] == 0.01 and compared["optimizer"] == "adam"
    assert compared["loss"] == pytest.approx(0.2)
    history = _history(repo, run_id)
    assert [r["_step"] for r in history] == [0, 1, 2, 3, 4]
    assert [r["loss"] for r in history] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert [r.get("acc") for r in history] == pytest.approx([0, None, 0.4, None, 0.8])
    ref = f"refs/gitexp/runs/{run_id}"
    assert git(repo, "rev-parse", f"{ref}^").strip() == head
    summary = git(repo, "show", f"{ref}:.gitexp/files/artifacts/notes/summary.txt")
    assert summary == "weights summary"
    if store == "file":
        listed = json.loads(git(repo, "show", f"{ref}:.gitexp/artifacts.json"))["artifacts"]
        assert [a["path"] for a in listed] == [f"mlflow-artifacts/{original}/model/weights.txt"]
        assert listed[0]["size"] == 2 * 1024 * 1024
        pointer = git(repo, "show", f"{ref}:.gitexp-artifacts.dvc")
        md5 = listed[0]["md5"]
        assert md5 in pointer
        assert (repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    else:
        assert any("over 1 MiB left out" in note for note in entry["notes"])
    info = json.loads(git(repo, "show", f"{ref}:.gitexp/run.json"))
    assert info["imported"] == {"from": "mlflow", "id": original, "path": info["imported"]["path"]}
    assert info["source"] == "import"
    assert info["redacted"] == {"config": ["db_password"]}
    assert "hunter2" not in git(repo, "log", "-p", "--all")
    _check_imported_run(repo, run_id)
    _reimport_changes_nothing(repo, "mlflow", uri)
    # Against a run of this repository's code, the imported one (no code) compares
    # config and metrics, never every file as deleted.
    ran = gitexp("run", "--name", "here", "--", sys.executable, "-c", "pass", cwd=repo)
    assert ran.returncode == 0, ran.stderr
    text = gitexp("diff", run_id, "here", "--code", cwd=repo)
    assert text.returncode == 0, text.stderr
    assert "code (not compared: resnet-small imported from another tracker" in text.stdout
    assert "deleted" not in text.stdout and "--- a/" not in text.stdout
    as_json = json.loads(gitexp("diff", run_id, "here", "--json", cwd=repo).stdout)
    assert as_json["code"] == [] and as_json["code_not_recorded"] == ["a"]


def test_mlflow_import_of_a_folder_that_is_not_there_says_so(repo: Path) -> None:
    done = gitexp("import", "mlflow", "no-such-mlruns", cwd=repo)
    assert done.returncode == 2
    assert "neither an MLflow store folder nor a tracking URI" in done.stderr


@pytest.mark.slow
def test_mlflow_store_mlflow_cannot_open_says_so(repo: Path, tmp_path: Path) -> None:
    require("mlflow")
    require("sqlalchemy")
    (tmp_path / "broken.db").write_bytes(b"this is not a database" * 100)
    done = gitexp("import", "mlflow", f"sqlite:///{tmp_path / 'broken.db'}", cwd=repo, timeout=180)
    assert done.returncode == 2, done.stderr
    assert "MLflow could not read" in done.stderr
    assert run_refs(repo) == {}


# -- wandb --------------------------------------------------------------------------------

WANDB_VERSION = "0.31.0"
WANDB_SCRIPT = """
import wandb

run = wandb.init(project="speech", name="conformer", config={"lr": 0.003, "model": {"layers": 4}},
                 tags=["baseline"], group="g1")
for step in range(5):
    wandb.log({"loss": 2.0 / (step + 1), "acc": step * 0.1})
run.summary["best_acc"] = 0.4
print("epoch done")
wandb.finish()
"""


@pytest.fixture(scope="session")
def wandb_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter with the real wandb, in an environment of its own (built once)."""
    folder = tmp_path_factory.mktemp("wandb-env") / "venv"
    python = folder / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        steps = [
            [uv, "venv", "-q", "--python", sys.executable, str(folder)],
            [uv, "pip", "install", "-q", "--python", str(python), f"wandb=={WANDB_VERSION}"],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [str(python), "-m", "pip", "install", "-q", f"wandb=={WANDB_VERSION}"],
        ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            message = f"could not build an environment with wandb: {done.stderr[-2000:]}"
            if REQUIRE_INTEGRATIONS:
                pytest.fail(message)
            pytest.skip(message)
    return str(python)


def _wandb_run(repo: Path, python: str) -> Path:
    (repo / "wandb_train.py").write_text(textwrap.dedent(WANDB_SCRIPT))
    git(repo, "add", "wandb_train.py")
    git(repo, "commit", "-q", "-m", "a wandb script")
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    done = subprocess.run(
        [python, "wandb_train.py"], cwd=repo, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (folder,) = (repo / "wandb").glob("offline-run-*")
    return folder


@pytest.mark.slow
def test_wandb_offline_run_imports_with_wandbs_own_reader(repo: Path, wandb_python: str) -> None:
    folder = _wandb_run(repo, wandb_python)
    head = git(repo, "rev-parse", "HEAD").strip()
    report = _import(repo, "wandb", "wandb", "--wandb-python", wandb_python)
    (entry,) = report["runs"]
    assert entry["original_id"] == folder.name.rsplit("-", 1)[1]
    assert entry["notes"] == []
    (row,) = _ls(repo)
    assert row["name"] == "conformer" and row["project"] == "speech" and row["group"] == "g1"
    assert row["tags"] == ["baseline"] and row["status"] == "finished"
    assert row["config"] == {"lr": 0.003, "model.layers": 4}
    assert row["metrics"]["loss"]["last"] == pytest.approx(0.4)
    assert row["metrics"]["best_acc"]["last"] == pytest.approx(0.4)
    assert row["baseline"] == head  # wandb recorded the commit it ran at
    history = _history(repo, entry["id"])
    assert [r["_step"] for r in history] == [0, 1, 2, 3, 4]
    assert [r["loss"] for r in history] == pytest.approx([2.0 / (s + 1) for s in range(5)])
    assert [r["acc"] for r in history] == pytest.approx([s * 0.1 for s in range(5)])
    ref = f"refs/gitexp/runs/{entry['id']}"
    assert "epoch done" in git(repo, "show", f"{ref}:.gitexp/output.log")
    compared = _compared(repo, entry["id"])
    found = {key: values[0] for (_section, key), values in compared.items()}
    assert found["lr"] == 0.003 and found["model.layers"] == 4
    assert found["loss"] == pytest.approx(0.4) and found["best_acc"] == pytest.approx(0.4)
    _check_imported_run(repo, entry["id"])
    _reimport_changes_nothing(repo, "wandb", "wandb", "--wandb-python", wandb_python)


@pytest.mark.slow
def test_wandb_import_without_wandb_takes_the_files_and_says_so(
    repo: Path, wandb_python: str
) -> None:
    _wandb_run(repo, wandb_python)
    # gitexp's own interpreter has no wandb (the shim's tests need it absent).
    if subprocess.run([sys.executable, "-c", "import wandb.proto"]).returncode == 0:
        pytest.skip("this environment has wandb: the files-only path is not reachable")
    report = _import(repo, "wandb", "wandb")
    (entry,) = report["runs"]
    assert entry["imported"]
    assert any("needs the wandb package" in note for note in entry["notes"])
    _check_imported_run(repo, entry["id"])


def test_wandb_python_that_is_not_there_says_so(repo: Path) -> None:
    folder = repo / "wandb" / "offline-run-20240101_000000-abcd1234"
    folder.mkdir(parents=True)
    (folder / "run-abcd1234.wandb").write_bytes(b":W&B\xe1\xbe\x00")
    done = gitexp("import", "wandb", "wandb", "--wandb-python", "/no/such/python", cwd=repo)
    assert done.returncode == 2
    assert "could not start /no/such/python" in done.stderr
    assert run_refs(repo) == {}


# -- export -------------------------------------------------------------------------------


def _two_runs(repo: Path) -> None:
    for epochs in ("2", "3"):  # train.py reads epochs (and reports its own lr)
        done = gitexp("run", "-p", f"epochs={epochs}", "--", sys.executable, "train.py", cwd=repo)
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_export_csv_has_one_row_per_run_and_a_long_history(repo: Path) -> None:
    _two_runs(repo)
    done = gitexp("export", cwd=repo)
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert sorted(row["config.epochs"] for row in table) == ["2", "3"]
    assert sorted(row["summary.loss"] for row in table) == [str(1.0 / 3), str(1.0 / 2)]
    assert {row["status"] for row in table} == {"finished"}
    ids = {row["id"] for row in table}
    assert ids == set(run_refs(repo))
    chosen = gitexp("export", "--where", "config.epochs > 2", "-o", "one.csv", cwd=repo)
    assert chosen.returncode == 0, chosen.stderr
    assert len(list(csv.DictReader((repo / "one.csv").open()))) == 1
    long = gitexp("export", "--history", "loss", "acc", cwd=repo)
    rows = list(csv.DictReader(io.StringIO(long.stdout)))
    assert len(rows) == (2 + 3) * 2  # the runs' steps x keys
    assert {row["key"] for row in rows} == {"loss", "acc"}


@pytest.mark.slow
def test_export_parquet_reads_back_with_pandas(repo: Path) -> None:
    pd = require("pandas")
    require("pyarrow")
    _two_runs(repo)
    done = gitexp("export", "-o", "runs.parquet", cwd=repo)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(repo / "runs.parquet")
    assert sorted(frame["config.epochs"]) == [2, 3]
    assert gitexp("export", "--format", "parquet", cwd=repo).returncode == 2  # needs -o


# -- TensorBoard and DVCLive inside a run ------------------------------------------------

SYNC_SCRIPT = """
import gitexp
from torch.utils.tensorboard import SummaryWriter

gitexp.init(config={"lr": 0.5}, sync_tensorboard=True)
writer = SummaryWriter("tb/exp")
for step in range(3):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
writer.close()
gitexp.finish()
"""


@pytest.mark.slow
def test_sync_tensorboard_puts_event_files_into_the_history(repo: Path) -> None:
    require("torch")
    require("tensorboard")
    (repo / "tb_train.py").write_text(SYNC_SCRIPT)
    done = subprocess.run(
        [sys.executable, "tb_train.py"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    history = _history(repo, run_id)
    assert [r["_step"] for r in history] == [0, 1, 2]
    assert [r["loss"] for r in history] == pytest.approx([1.0, 0.5, 1 / 3])


@pytest.mark.slow
def test_gitexp_run_tensorboard_dir_after_the_scripts_own_rows(repo: Path) -> None:
    require("torch")
    require("tensorboard")
    (repo / "both.py").write_text(
        "import gitexp\n"
        "from torch.utils.tensorboard import SummaryWriter\n"
        "gitexp.init()\n"
        "gitexp.log({'own': 1})\n"
        "writer = SummaryWriter('logs/x')\n"
        "writer.add_scalar('tb', 7.0, 40)\n"
        "writer.close()\n"
    )
    done = gitexp("run", "--tensorboard", "logs", "--", sys.executable, "both.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    history = _history(repo, run_id)
    assert history[0]["own"] == 1
    assert history[1]["tb"] == 7.0 and history[1]["global_step"] == 40
    assert history[1]["_step"] == 1
    info = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json"))
    assert info["extra"]["tensorboard"] == ["logs"]


DVCLIVE_SCRIPT = """
from dvclive import Live

with Live(save_dvc_exp=False) as live:
    live.log_param("epochs", 3)
    for epoch in range(3):
        live.log_metric("train/loss", 1.0 / (epoch + 1))
        live.log_metric("acc", epoch * 0.25)
        live.next_step()
"""


@pytest.mark.slow
def test_dvclive_metrics_are_recorded_and_its_folder_is_no_code(repo: Path) -> None:
    require("dvclive")
    (repo / "live.py").write_text(DVCLIVE_SCRIPT)
    done = gitexp("run", "--", sys.executable, "live.py", cwd=repo, timeout=300)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    history = _history(repo, run_id)
    assert [r["train/loss"] for r in history] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [r["acc"] for r in history] == pytest.approx([0.0, 0.25, 0.5])
    (row,) = _ls(repo)
    assert row["config"]["epochs"] == 3
    # A second run leaves the first one's dvclive/ folder out of its snapshot.
    again = gitexp("run", "--", sys.executable, "-c", "pass", cwd=repo)
    assert again.returncode == 0, again.stderr
    newest = _ls(repo)[0]["id"]
    files = git(repo, "ls-tree", "-r", "--name-only", f"refs/gitexp/runs/{newest}")
    assert "dvclive/" not in files
    snapshot = git(repo, "show", f"refs/gitexp/runs/{newest}:.gitexp/snapshot.json")
    assert "tool-output:dvclive" in snapshot


@pytest.mark.slow
def test_wandb_damaged_log_is_imported_from_its_files_with_a_note(
    repo: Path, wandb_python: str
) -> None:
    folder = repo / "wandb" / "offline-run-20240101_000000-broken01"
    (folder / "files").mkdir(parents=True)
    (folder / "run-broken01.wandb").write_bytes(b"not a wandb log")
    (folder / "files" / "config.yaml").write_text("lr:\n  value: 0.5\n_wandb:\n  value: {}\n")
    (folder / "files" / "wandb-summary.json").write_text('{"loss": 0.25, "_runtime": 3}')
    report = _import(repo, "wandb", "wandb", "--wandb-python", wandb_python)
    (entry,) = report["runs"]
    assert any("could not be read" in note for note in entry["notes"])
    (row,) = _ls(repo)
    assert row["config"] == {"lr": 0.5}
    assert row["metrics"]["loss"]["last"] == 0.25
    assert row["status"] == "finished"
