"""What gitexp writes to git, read back with the git binary alone.

A run is a ref ``refs/gitexp/runs/<id>`` whose commits hold the workspace snapshot plus
``.gitexp/`` (run.json, config.yaml, metrics.json, history chunks, hardware.json,
packages.txt, output.log, snapshot.json); every JSON file is strict JSON, and no
secret from the environment ever reaches the object database.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, gitexp, run_refs

PY = sys.executable
PREFIX = "refs/gitexp/runs/"

TRAIN = """\
import sys, time
import gitexp
run = gitexp.init(config={"lr": 0.1, "epochs": 4})
for step in range(run.config.epochs):
    gitexp.log({"loss": 1.0 / (step + 1), "acc": step / 10})
print("trained", run.config.lr)
time.sleep(0.8)  # the manifest (GPUs, packages) is collected in the background
gitexp.finish()
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

GPU_NAME = "NVIDIA Gitexp Test GPU"
GPU_UUID = "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
FAKE_NVIDIA_SMI = f"""#!/bin/sh
case "$1" in
  --query-gpu=*) {{wait}}
    echo "0, {GPU_NAME}, 81559, {GPU_UUID}, 550.54.15" ;;
  *) echo "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |" ;;
esac
"""


# -- helpers ---------------------------------------------------------------------------


def fake_gpu_env(tmp_path: Path, wait: str = "") -> dict[str, str]:
    """PATH with an ``nvidia-smi`` that reports one GPU (so the GPU list is known)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    tool = bindir / "nvidia-smi"
    tool.write_text(FAKE_NVIDIA_SMI.replace("{wait}", wait))
    tool.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN / Infinity literals (RFC 8259 JSON only)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def message_row(repo: Path, commit: str) -> dict[str, Any]:
    message = git(repo, "log", "-1", "--format=%B", commit)
    lines = [line for line in message.splitlines() if line.startswith("gitexp-run: ")]
    assert len(lines) == 1, message
    return strict_json(lines[0][len("gitexp-run: ") :])


def history_lines(repo: Path, ref: str) -> list[str]:
    names = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/history").split()
    assert names, "no history chunk"
    assert names[0] == ".gitexp/history/000000.jsonl"
    lines: list[str] = []
    for name in sorted(names):
        assert re.fullmatch(r"\.gitexp/history/\d{6}\.jsonl", name)
        lines += show(repo, ref, name).splitlines()
    return lines


def new_run(repo: Path, before: set[str]) -> str:
    new = set(run_refs(repo)) - before
    assert len(new) == 1, new
    return new.pop()


def assert_fsck_clean(repo: Path) -> None:
    done = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def train_repo(repo: Path) -> Path:
    (repo / "fmt_train.py").write_text(TRAIN)
    git(repo, "add", "fmt_train.py")
    git(repo, "commit", "-q", "-m", "format training script")
    return repo


# -- the format ------------------------------------------------------------------------


@pytest.mark.slow
def test_runs_are_plain_git_data(train_repo: Path, tmp_path: Path) -> None:
    repo = train_repo
    head = git(repo, "rev-parse", "HEAD").strip()
    env = fake_gpu_env(tmp_path)
    runs: dict[str, dict[str, Any]] = {}

    before = set(run_refs(repo))
    done = gitexp(
        "run",
        "--name",
        "first",
        "--tag",
        "baseline",
        "--note",
        "a note",
        "-p",
        "lr=0.01",
        "--",
        PY,
        "fmt_train.py",
        cwd=repo,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    runs[new_run(repo, before)] = {"name": "first", "status": "finished", "code": 0, "lr": 0.01}

    before = set(run_refs(repo))
    done = gitexp("run", "--name", "second", "--", PY, "fmt_train.py", "2", cwd=repo, env=env)
    assert done.returncode == 2, done.stderr
    runs[new_run(repo, before)] = {"name": "second", "status": "failed", "code": 2, "lr": 0.1}

    before = set(run_refs(repo))
    direct = subprocess.run(
        [PY, "fmt_train.py"], cwd=repo, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert direct.returncode == 0, direct.stderr
    direct_id = new_run(repo, before)
    runs[direct_id] = {"name": None, "status": "finished", "code": 0, "lr": 0.1}

    assert_fsck_clean(repo)
    listed = git(repo, "for-each-ref", "--format=%(refname) %(objecttype)", "refs/gitexp/runs")
    assert sorted(listed.splitlines()) == sorted(f"{PREFIX}{i} commit" for i in runs)
    assert git(repo, "status", "--porcelain") == ""  # nothing left in the workspace

    for run_id, want in runs.items():
        ref = PREFIX + run_id
        files = set(git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp").split())
        assert {
            f".gitexp/{name}"
            for name in (
                "run.json",
                "config.yaml",
                "metrics.json",
                "snapshot.json",
                "hardware.json",
                "packages.txt",
                "output.log",
                "history/000000.jsonl",
            )
        } <= files

        info = strict_json(show(repo, ref, ".gitexp/run.json"))
        assert info["id"] == run_id
        if want["name"]:
            assert info["name"] == want["name"]
        assert isinstance(info["name"], str) and info["name"]
        assert info["status"] == want["status"]
        assert info["exit_code"] == want["code"]
        assert info["command"][-1 if want["code"] == 0 else -2] == "fmt_train.py"
        assert isinstance(info["start"], float) and isinstance(info["end"], float)
        assert info["start"] <= info["end"] <= time.time()
        assert info["baseline"] == head
        assert info["branch"] == "main"
        assert info["dirty"] is False
        assert info["format"] == 1
        assert info["source"] == ("script" if run_id == direct_id else "cli")

        metrics = strict_json(show(repo, ref, ".gitexp/metrics.json"))
        assert metrics["summary"]["loss"] == 0.25
        assert metrics["summary"]["acc"] == pytest.approx(0.3)
        loss = metrics["metrics"]["loss"]
        assert (loss["last"], loss["min"], loss["max"]) == (0.25, 0.25, 1.0)
        assert metrics["steps"] == 4

        rows = [strict_json(line) for line in history_lines(repo, ref)]
        assert [r["_step"] for r in rows] == [0, 1, 2, 3]
        assert [r["loss"] for r in rows] == [1.0, 0.5, 1 / 3, 0.25]

        config = yaml.safe_load(show(repo, ref, ".gitexp/config.yaml"))
        assert config == {"lr": want["lr"], "epochs": 4}

        hardware = strict_json(show(repo, ref, ".gitexp/hardware.json"))
        assert isinstance(hardware["host"]["cpu"], dict)
        assert hardware["host"]["cpu"]["logical_cores"] == os.cpu_count()
        assert hardware["host"]["python"]["version"] == platform.python_version()
        gpu = hardware["gpu"]
        assert isinstance(gpu, dict) and isinstance(gpu["gpus"], list)
        assert [(g["name"], g["uuid"], g["memory_bytes"]) for g in gpu["gpus"]] == [
            (GPU_NAME, GPU_UUID, 81559 * 1024 * 1024)
        ]
        assert (gpu["driver_version"], gpu["cuda_version"]) == ("550.54.15", "12.4")

        packages = show(repo, ref, ".gitexp/packages.txt").splitlines()
        assert packages and all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*==\S+", p) for p in packages)
        assert f"pyyaml=={yaml.__version__}" in packages

        assert "trained" in show(repo, ref, ".gitexp/output.log")
        strict_json(show(repo, ref, ".gitexp/snapshot.json"))

        # The first run commit sits on the baseline; every later one on its predecessor.
        chain = git(repo, "rev-list", "--parents", ref, f"^{head}").splitlines()
        assert chain[-1].split()[1:] == [head]
        for newer, older in itertools.pairwise(chain):
            assert newer.split()[1:] == [older.split()[0]]

        final = message_row(repo, ref)
        assert final["id"] == run_id and final["status"] == want["status"]
        assert final["exit_code"] == want["code"]
        assert final["metrics"]["loss"]["last"] == 0.25
        assert final["config"]["lr"] == want["lr"]
        subject = git(repo, "log", "-1", "--format=%s", ref)
        assert want["status"] in subject

    first = next(i for i, w in runs.items() if w["name"] == "first")
    info = strict_json(show(repo, PREFIX + first, ".gitexp/run.json"))
    assert (info["tags"], info["notes"]) == (["baseline"], "a note")


def test_nan_and_infinities_are_strict_json(repo: Path) -> None:
    code = (
        "import gitexp\n"
        "gitexp.init()\n"
        "gitexp.log({'x': float('nan'), 'y': float('inf'), 'z': 1.0})\n"
        "gitexp.log({'x': 2.0, 'y': float('-inf'), 'z': float('inf')})\n"
        "gitexp.finish()\n"
    )
    before = set(run_refs(repo))

    done = gitexp("run", "-p", "clip=inf", "--", PY, "-c", code, cwd=repo)

    assert done.returncode == 0, done.stderr
    ref = PREFIX + new_run(repo, before)
    rows = [strict_json(line) for line in history_lines(repo, ref)]
    assert rows[0]["x"] == {"$float": "NaN"}
    assert rows[0]["y"] == {"$float": "Infinity"}
    assert rows[1]["y"] == {"$float": "-Infinity"}
    assert rows[1]["z"] == {"$float": "Infinity"}
    assert rows[1]["x"] == 2.0
    metrics = strict_json(show(repo, ref, ".gitexp/metrics.json"))
    assert metrics["summary"]["x"] == 2.0
    assert metrics["summary"]["y"] == {"$float": "-Infinity"}
    assert metrics["metrics"]["x"]["min"] == 2.0  # NaN is no minimum
    assert metrics["metrics"]["z"]["max"] == {"$float": "Infinity"}
    row = message_row(repo, ref)
    assert row["metrics"]["y"]["last"] == {"$float": "-Infinity"}
    assert row["config"]["clip"] == {"$float": "Infinity"}
    strict_json(show(repo, ref, ".gitexp/run.json"))
    assert math.isinf(yaml.safe_load(show(repo, ref, ".gitexp/config.yaml"))["clip"])


# -- secrets -------------------------------------------------------------------------------

CANARIES = {
    "GITEXP_CANARY_SECRET": "canary-8f3a9c1e",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-5d2e7b90c4",
    "WANDB_API_KEY": "canary-wandb-71c0e9",
    "HF_TOKEN": "canary-hf-3b6a0d",
}

# Credential shapes a script may print (its settings, a client's debug output): scrubbed.
PRINTED_TOKENS = {
    "aws key id": "AKIA" + "Q7CANARY3XZ9K2LM",
    "github": "ghp_" + "Canary0123456789abcdefghijklmnopqrstu",
    "hugging face": "hf_" + "CanaryTokenAbcdefghijklmnopqrstuvw",
}

SECRET_CHILD = """\
import json, os, sys
import gitexp
with open(sys.argv[1], "w") as proof:  # outside the repository
    proof.write(os.environ["GITEXP_CANARY_SECRET"])
with open(sys.argv[2]) as handle:  # outside the repository, so not in the snapshot
    tokens = json.load(handle)
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": 0.5})
print("training without printing secrets")
print(f"client settings: key={tokens['aws key id']} gh={tokens['github']}")
print(f"hub token {tokens['hugging face']}", file=sys.stderr)
gitexp.finish()
sys.exit(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
"""


def test_secrets_in_the_environment_never_reach_git(repo: Path, tmp_path: Path) -> None:
    (repo / "secret_train.py").write_text(SECRET_CHILD)
    (repo / ".env").write_text(f"GITEXP_CANARY_SECRET={CANARIES['GITEXP_CANARY_SECRET']}\n")
    env = {**CANARIES, "CUDA_VISIBLE_DEVICES": "0"}
    proof = tmp_path / "proof.txt"

    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(PRINTED_TOKENS))
    script = [PY, "secret_train.py", str(proof), str(tokens)]

    ok = gitexp("run", "--", *script, cwd=repo, env=env)
    failed = gitexp("run", "--", *script, "3", cwd=repo, env=env)
    direct = subprocess.run(
        script,
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )

    assert (ok.returncode, failed.returncode, direct.returncode) == (0, 3, 0), ok.stderr
    assert proof.read_text() == CANARIES["GITEXP_CANARY_SECRET"]  # the runs did see it
    assert len(run_refs(repo)) == 3
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True
    ).stdout
    assert b"training without printing secrets" in objects  # the search sees run data
    assert b"CUDA_VISIBLE_DEVICES" in objects  # allow-listed variables are recorded
    for name, value in CANARIES.items():
        assert value.encode() not in objects, name
    for name, token in PRINTED_TOKENS.items():
        assert token.encode() not in objects, name
    assert PRINTED_TOKENS["github"] in ok.stdout  # the terminal still shows them
    for ref in run_refs(repo).values():
        assert "[redacted by gitexp]" in show(repo, ref, ".gitexp/output.log")
    for path in (repo / ".git").rglob("*"):  # refs, reflogs, caches: nowhere in .git
        if path.is_file():
            data = path.read_bytes()
            for name, value in {**CANARIES, **PRINTED_TOKENS}.items():
                assert value.encode() not in data, (name, path)
    assert_fsck_clean(repo)


# -- found while testing (first against the committed code) ---------------------------------


def test_short_command_still_records_gpus_and_packages(repo: Path, tmp_path: Path) -> None:
    """The GPU query and the package list run in the background, yet a command that ends
    before nvidia-smi answers (it often takes 1-3 s) still gets them in its final commit."""
    env = fake_gpu_env(tmp_path, wait="sleep 1.5")
    before = set(run_refs(repo))
    done = gitexp("run", "--", PY, "-c", "pass", cwd=repo, env=env)

    assert done.returncode == 0, done.stderr
    ref = PREFIX + new_run(repo, before)
    hardware = strict_json(show(repo, ref, ".gitexp/hardware.json"))
    assert isinstance(hardware["gpu"], dict)
    assert hardware["gpu"]["gpus"][0]["name"] == GPU_NAME
    files = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp").split()
    assert ".gitexp/packages.txt" in files


def test_generated_run_ids_and_names() -> None:
    """Ids: 12 letters of the 32-letter alphabet, each letter about equally likely (the
    ids' 60 bits of collision resistance rely on it); names: adjective-noun-NN."""
    import collections
    import re as regex

    from gitexp.model.ids import ID_ALPHABET, is_run_id, new_run_id, new_run_name

    ids = [new_run_id() for _ in range(4000)]
    assert all(is_run_id(run_id) for run_id in ids)
    assert len(set(ids)) == len(ids)
    counts = collections.Counter("".join(ids))
    assert set(counts) == set(ID_ALPHABET)
    expected = 4000 * 12 / 32  # 1,500 each; ±15% is 5.9 standard deviations of a fair draw
    assert all(abs(count - expected) < 0.15 * expected for count in counts.values()), counts
    names = [new_run_name() for _ in range(500)]
    assert all(regex.fullmatch(r"[a-z]+-[a-z]+-\d\d", name) for name in names)
    assert len({name.rsplit("-", 1)[1] for name in names}) > 50  # the number varies


def test_commits_take_the_identity_git_would_use(repo: Path) -> None:
    """The environment first, then author.*/committer.*, then user.*, as git var says."""
    git(repo, "config", "author.name", "Config Author")
    env = {
        "GIT_AUTHOR_NAME": "Env Author",
        "GIT_AUTHOR_EMAIL": "env-author@example.invalid",
        "GIT_COMMITTER_EMAIL": "env-committer@example.invalid",
    }
    done = gitexp("run", "--", sys.executable, "-c", "pass", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    ref = f"refs/gitexp/runs/{run_id}"
    author = git(repo, "log", "-1", "--format=%an <%ae>", ref).strip()
    committer = git(repo, "log", "-1", "--format=%cn <%ce>", ref).strip()
    expect = {k: v for k, v in os.environ.items()}
    expect.update(env)
    ident = subprocess.run(
        ["git", "var", "GIT_AUTHOR_IDENT"], cwd=repo, env=expect, capture_output=True, text=True
    ).stdout
    cident = subprocess.run(
        ["git", "var", "GIT_COMMITTER_IDENT"], cwd=repo, env=expect, capture_output=True, text=True
    ).stdout
    assert author == ident.rsplit(" ", 2)[0] == "Env Author <env-author@example.invalid>"
    assert committer == cident.rsplit(" ", 2)[0] == "Test User <env-committer@example.invalid>"
