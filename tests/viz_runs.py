"""A repository with three recorded runs of a small training script, for the chart tests.

Built once per test module (recording runs is the slow part): the script logs loss,
accuracy and a learning rate per step and a ``gitexp.Histogram`` every fifth step; the
third run has an uncommitted edit, a tag and a note.  It needs numpy, not torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
import math
import numpy as np
import gitexp

run = gitexp.init(config={"lr": 0.1, "steps": 25, "model": {"width": 8}})
gitexp.define_metric("loss", goal="minimize")
rng = np.random.default_rng(0)
for step in range(run.config.steps):
    loss = math.exp(-run.config.lr * step)
    row = {"loss": loss, "accuracy": 1 - loss / 2, "lr": run.config.lr * (1 - step / 25)}
    if step % 5 == 0:
        row["weights/fc1"] = gitexp.Histogram(rng.normal(0, 1 + step * run.config.lr, 500))
    gitexp.log(row)
gitexp.finish()
"""

RUN_NAMES = ("lr-0.01", "lr-0.05", "lr-0.2")


def isolated_env(home: Path) -> dict[str, str]:
    """The environment tests run gitexp in: no user config, no gitexp variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITEXP_", "GIT_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / ".gitconfig"))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    return env


def record_sweep(root: Path) -> Path:
    """A repository under ``root`` with the three runs of :data:`RUN_NAMES`, oldest first."""
    home = root / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = root / "project"
    repo.mkdir()

    def call(*args: str) -> None:
        subprocess.run(args, cwd=repo, env=env, check=True, capture_output=True, timeout=120)

    call("git", "init", "-q")
    (repo / "train.py").write_text(SCRIPT)
    call("git", "add", "-A")
    call("git", "commit", "-q", "-m", "train")
    gitexp = [sys.executable, "-m", "gitexp", "run"]
    for name in RUN_NAMES:
        extra = []
        if name == "lr-0.2":
            (repo / "train.py").write_text(SCRIPT.replace("1 - loss / 2", "1 - loss / 3"))
            extra = ["--tag", "best-guess", "--note", "accuracy formula changed"]
        call(
            *gitexp,
            "--name",
            name,
            "-p",
            f"lr={name[3:]}",
            *extra,
            "--",
            sys.executable,
            "train.py",
        )
    return repo
