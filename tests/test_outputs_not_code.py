"""Outputs are not code: ``--out`` paths, ML tools' output folders, paths a script logs
as artifacts and large binary files stay out of a run's commits, listed in
snapshot.json's ``skipped`` with their reason; no git object is written for them.

Each test records real runs in a real repository and asks the git binary what is in
the object database (``git cat-file --batch-all-objects``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs
from sharing_servers import dvc_env_fixture, dvc_setup  # noqa: F401 - fixture
from test_rerun import rerun
from test_snapshot import git_add_all_tree, record, snapshot_entries, snapshot_json, tree_entries

PY = sys.executable


def all_blobs(repo: Path) -> set[str]:
    """Every blob id in the repository's object database, loose or packed."""
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check")
    return {line.split()[0] for line in out.splitlines() if line.split()[1] == "blob"}


def blob_id(repo: Path, data: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "--stdin"], cwd=repo, input=data, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def write(repo: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def skipped_reasons(repo: Path, ref: str) -> dict[str, str]:
    return {item["path"]: item["reason"] for item in snapshot_json(repo, ref)["skipped"]}


def run_commits(repo: Path, ref: str) -> list[str]:
    """The run's own commits, first to last (its baseline and before excluded)."""
    return git(repo, "rev-list", "--reverse", ref, "^HEAD").split()


def last_loss(repo: Path, commit: str) -> float:
    metrics = json.loads(git(repo, "show", f"{commit}:.gitexp/metrics.json"))
    return float(metrics["summary"].get("loss", 1.0))


def under(path: str, folders: set[str]) -> bool:
    return any(path == f or path.startswith(f + "/") for f in folders)


TOOL_FILES = {
    # Hydra: outputs/<date>/<time>/.hydra, and multirun/ with multirun.yaml below
    "outputs/2026-01-02/10-11-12/.hydra/config.yaml": b"hydra config of an earlier run\n",
    "outputs/2026-01-02/10-11-12/train.log": b"hydra log of an earlier run\n",
    "multirun/2026-01-02/10-11-12/multirun.yaml": b"hydra multirun sweep\n",
    "multirun/2026-01-02/10-11-12/0/.hydra/overrides.yaml": b"- lr=0.1\n",
    "wandb/run-20260102_101112-abc123/files/output.log": b"wandb run output\n",
    "wandb/debug.log": b"wandb debug log\n",
    "mlruns/0/meta.yaml": b"artifact_location: mlruns/0\n",
    "mlruns/0/5f3a/metrics/loss": b"1 0.5 0\n",
    "lightning_logs/version_0/hparams.yaml": b"lr: 0.1 (lightning)\n",
    "src/dvclive/metrics.json": b'{"loss": "dvclive"}\n',  # at any depth
    "runs/exp1/events.out.tfevents.1700000000.host.1.0": b"tensorboard events\n",
    "runs/exp1/1700000001/events.out.tfevents.1700000001.host.1.1": b"hparams events\n",
}
TOOL_FOLDERS = {
    "outputs": "tool-output:hydra",
    "multirun": "tool-output:hydra",
    "wandb": "tool-output:wandb",
    "mlruns": "tool-output:mlflow",
    "lightning_logs": "tool-output:lightning",
    "src/dvclive": "tool-output:dvclive",
    "runs/exp1": "tool-output:tensorboard",
}
# Folders with a tool's name but not its layout: code, kept.
LOOKALIKES = {
    "pkg/outputs/__init__.py": b"# a package named outputs\n",
    "pkg/wandb/shim.py": b"# a local wandb shim\n",
    "runs/README.md": b"the tensorboard logs go here\n",
}


def test_each_tool_output_folder_is_left_out_listed_and_never_an_object(repo: Path) -> None:
    write(repo, {**TOOL_FILES, **LOOKALIKES})

    ref, _ = record(repo)

    files = snapshot_entries(repo, ref)
    assert not [path for path in files if under(path, set(TOOL_FOLDERS))]
    for path, data in LOOKALIKES.items():
        assert files[path][2] == blob_id(repo, data)
    assert skipped_reasons(repo, ref) == TOOL_FOLDERS
    blobs = all_blobs(repo)
    assert not {blob_id(repo, data) for data in TOOL_FILES.values()} & blobs
    # The snapshot is what `git add -A` would commit, minus exactly the skipped paths.
    expected = tree_entries(repo, git_add_all_tree(repo))
    assert files == {p: e for p, e in expected.items() if not under(p, set(TOOL_FOLDERS))}


def test_a_tracked_file_in_a_tool_folder_stays_and_include_keeps_the_rest(repo: Path) -> None:
    write(repo, {"lightning_logs/version_0/hparams.yaml": b"lr: 0.1\n"})
    git(repo, "add", "lightning_logs")
    git(repo, "commit", "-q", "-m", "track the hparams of the reference run")
    write(
        repo,
        {
            "lightning_logs/version_0/hparams.yaml": b"lr: 0.2\n",  # tracked, edited
            "lightning_logs/version_0/metrics.csv": b"step,loss\n0,1.0\n",
            "lightning_logs/version_1/hparams.yaml": b"lr: 0.3\n",
            "wandb/run-1/files/config.yaml": b"wandb config kept\n",
        },
    )

    ref, _ = record(
        repo, "--include", "wandb/", "--include", "lightning_logs/version_1/hparams.yaml"
    )

    files = snapshot_entries(repo, ref)
    kept = {p for p in files if p.startswith(("lightning_logs/", "wandb/"))}
    assert kept == {
        "lightning_logs/version_0/hparams.yaml",
        "lightning_logs/version_1/hparams.yaml",
        "wandb/run-1/files/config.yaml",
    }
    assert files["lightning_logs/version_0/hparams.yaml"][2] == blob_id(repo, b"lr: 0.2\n")
    assert skipped_reasons(repo, ref) == {"lightning_logs": "tool-output:lightning"}
    assert blob_id(repo, b"step,loss\n0,1.0\n") not in all_blobs(repo)


def test_many_runs_of_a_tool_are_recognised_by_a_bounded_look(repo: Path) -> None:
    # Fewer folders without the layout than the look enters (16 of each folder's
    # subfolders): whatever order the listing gives, one run's folder is seen.
    files = {f"outputs/2026-02-{day:02d}/notes.txt": b"no run here\n" for day in range(1, 9)}
    for day in range(1, 29):
        for hour in range(9, 11):
            files[f"outputs/2026-03-{day:02d}/{hour:02d}-00-00/.hydra/config.yaml"] = b"x\n"
    write(repo, files)

    ref, _ = record(repo)

    assert not [p for p in snapshot_entries(repo, ref) if p.startswith("outputs/")]
    assert skipped_reasons(repo, ref) == {"outputs": "tool-output:hydra"}


def test_a_tensorboard_folder_with_tracked_files_keeps_them(repo: Path) -> None:
    write(repo, {"logs/notes.md": b"what these logs are\n"})
    git(repo, "add", "logs")
    git(repo, "commit", "-q", "-m", "notes")
    write(repo, {"logs/events.out.tfevents.1.host": b"events\n", "logs/extra.txt": b"x\n"})

    ref, _ = record(repo)

    files = snapshot_entries(repo, ref)
    assert [p for p in files if p.startswith("logs/")] == ["logs/notes.md"]
    assert skipped_reasons(repo, ref) == {"logs": "tool-output:tensorboard"}


# -- binary files --------------------------------------------------------------------------

BINARY = b"\x00\x01weights" * (200 * 1024)  # 1.8 MiB with NULs at the start
TEXT = b"a long generated table\n" * (100 * 1024)  # 2.3 MiB, no NUL
SMALL_BINARY = b"\x00small" * (16 * 1024)  # 96 KiB


def test_a_large_untracked_binary_file_is_left_out_as_binary(repo: Path) -> None:
    write(repo, {"model.bin": BINARY, "table.txt": TEXT, "small.bin": SMALL_BINARY})

    ref, _ = record(repo)

    files = snapshot_entries(repo, ref)
    assert "model.bin" not in files and blob_id(repo, BINARY) not in all_blobs(repo)
    assert files["table.txt"][2] == blob_id(repo, TEXT)
    assert files["small.bin"][2] == blob_id(repo, SMALL_BINARY)  # under 1 MiB: code
    (item,) = snapshot_json(repo, ref)["skipped"]
    assert item == {"path": "model.bin", "reason": "binary", "size": len(BINARY)}
    shown = gitexp("show", ref.rsplit("/", 1)[1], cwd=repo).stdout
    assert "model.bin (binary" in shown and "--out" in shown and "--include" in shown


def test_the_binary_threshold_is_configurable_and_include_keeps_one(repo: Path) -> None:
    write(repo, {"model.bin": BINARY, "small.bin": SMALL_BINARY})
    git(repo, "config", "gitexp.maxBinarySize", "64k")

    ref, _ = record(repo, "--include", "model.bin")

    files = snapshot_entries(repo, ref)
    assert files["model.bin"][2] == blob_id(repo, BINARY)
    assert "small.bin" not in files
    assert skipped_reasons(repo, ref) == {"small.bin": "binary"}


@pytest.mark.slow
def test_a_rerun_finds_the_binary_file_its_run_left_out(repo: Path) -> None:
    script = (
        "import gitexp\n"
        "gitexp.init()\n"
        "gitexp.log({'size': len(open('model.bin', 'rb').read())})\n"
        "gitexp.finish()\n"
    )
    write(repo, {"model.bin": BINARY, "load.py": script.encode()})
    ref, _ = record(repo, command=(PY, "load.py"))
    assert skipped_reasons(repo, ref) == {"model.bin": "binary"}

    code, out, err = rerun(repo, ref.rsplit("/", 1)[1])

    assert code == 0, out + err  # linked into the rerun's checkout: the script found it
    (new,) = set(run_refs(repo)) - {ref.rsplit("/", 1)[1]}
    assert skipped_reasons(repo, f"refs/gitexp/runs/{new}") == {"model.bin": "binary"}


# -- outputs named by --out and by the script ---------------------------------------------


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    """``repo`` with a DVC project (needed by --out) and a local-folder remote."""
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up DVC")
    return repo


# Text without NUL, 5 MB: under the 10 MiB limit, so without --out it would be code.
OLD_MODEL = b"weights of an earlier run " * 200_000
OLD_CKPT = b"earlier checkpoint\n"


@pytest.mark.slow
def test_a_preexisting_out_path_never_becomes_an_object(project: Path) -> None:
    write(project, {"model.pt": OLD_MODEL, "ckpts/epoch1.pt": OLD_CKPT})
    script = (
        "import gitexp, time\n"
        "gitexp.init()\n"
        "for step in range(3):\n"
        "    gitexp.log({'loss': 1.0 / (step + 1)})\n"
        "    time.sleep(0.3)\n"
        "open('model.pt', 'w').write('new weights')\n"
        "open('ckpts/epoch2.pt', 'w').write('new checkpoint')\n"
    )
    write(project, {"train2.py": script.encode()})

    ref, _ = record(
        project,
        "--out",
        "model.pt",
        "--out",
        "ckpts",
        command=(PY, "train2.py"),
        env={"GITEXP_CHECKPOINT_SECONDS": "0.2"},
    )

    blobs = all_blobs(project)
    assert blob_id(project, OLD_MODEL) not in blobs
    assert blob_id(project, OLD_CKPT) not in blobs
    commits = run_commits(project, ref)
    assert len(commits) >= 2
    for commit in commits:
        paths = git(project, "ls-tree", "-r", "--name-only", commit).split()
        assert "model.pt" not in paths and not [p for p in paths if p.startswith("ckpts/")]
    skipped = {item["path"]: item for item in snapshot_json(project, ref)["skipped"]}
    assert skipped["model.pt"] == {"path": "model.pt", "reason": "output", "size": len(OLD_MODEL)}
    assert skipped["ckpts"] == {"path": "ckpts", "reason": "output"}
    artifacts = json.loads(git(project, "show", f"{ref}:.gitexp/artifacts.json"))
    assert {item["path"] for item in artifacts["artifacts"]} == {"ckpts", "model.pt"}


@pytest.mark.slow
def test_a_path_the_script_logs_leaves_the_later_commits(repo: Path) -> None:
    """No DVC project here: the artifact is not kept, and still it is no code."""
    write(
        repo,
        {
            "preds.csv": b"id,pred\n1,0.5\n",
            "samples/a.txt": b"sample a\n",
            "samples/b.txt": b"sample b\n",
        },
    )
    script = (
        "import gitexp, time\n"
        "gitexp.init()\n"
        "gitexp.log({'loss': 1.0})\n"
        "gitexp.log_artifact('preds.csv')\n"
        "gitexp.log_artifact('samples')\n"
        "gitexp.log_artifact('config.yaml')\n"  # tracked: stays
        "for step in range(6):\n"  # 1.5 s: checkpoints every 0.5 s (sdk/logger.py)
        "    gitexp.log({'loss': 0.5 / (step + 1)})\n"
        "    time.sleep(0.25)\n"
        "gitexp.finish()\n"
    )
    write(repo, {"evaluate.py": script.encode()})
    env = {**os.environ, "GITEXP_CHECKPOINT_SECONDS": "0.1"}
    done = subprocess.run([PY, "evaluate.py"], cwd=repo, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    ref = f"refs/gitexp/runs/{run_id}"

    first, *rest = run_commits(repo, ref)
    first_paths = git(repo, "ls-tree", "-r", "--name-only", first).split()
    assert "preds.csv" in first_paths  # written before the script named it
    # The commits with a loss logged after log_artifact: checkpoints and the final one.
    later = [commit for commit in rest if last_loss(repo, commit) < 1.0]
    assert len(later) >= 2 and later[-1] == rest[-1]
    for commit in later:
        paths = git(repo, "ls-tree", "-r", "--name-only", commit).split()
        assert "preds.csv" not in paths and "samples/a.txt" not in paths
        assert "config.yaml" in paths and "train.py" in paths
    reasons = skipped_reasons(repo, ref)
    assert reasons == {"preds.csv": "output", "samples": "output"}
