"""A script that logs an artifact and never calls ``gitexp.finish()``: the run is
finalized at interpreter exit, when Python refuses the exit hooks DVC's thread pools
register on import. The artifact must still be kept (found with issue 19's wandb
drop-in, whose libraries leave finishing to the exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

import gitexp as gx

SCRIPT = """\
import gitexp
run = gitexp.init()
with open("weights.bin", "wb") as handle:
    handle.write(b"w" * 64)
run.log_artifact("weights.bin", name="weights", type="model")
"""


@pytest.mark.slow
def test_an_artifact_is_kept_when_the_run_ends_at_exit(repo: Path) -> None:
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("*.bin\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dvc")
    (repo / "train_at_exit.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "train_at_exit.py"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "could not record" not in done.stderr
    kept = gx.Api(repo).runs()[0].logged_artifacts()
    assert [Path(str(item["path"])).name for item in kept] == ["weights.bin"], kept
