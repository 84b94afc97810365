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

import numpy as np

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
    # These runs end within moments: whether the sampler got a system sample in that time
    # is a race, and a sample adds the report's system panel; the tests pin the panels.
    env = {**isolated_env(home), "GITEXP_SYSTEM_METRICS": "0"}
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


# Two learning rates x two seeds; seed 1 logs every second step only (another x grid)
# and the lr=0.1, seed=1 run goes on longer.  define_metric makes `epoch` loss's x.
SEEDS_SCRIPT = """\
import sys
import gitexp

lr, seed, steps = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = gitexp.init(config={"lr": lr, "seed": seed, "opt": "adam" if lr < 0.3 else "sgd"})
gitexp.define_metric("loss", step_metric="epoch")
for step in range(0, steps, 1 + seed):
    gitexp.log({"loss": 1 / (1 + lr * step) + seed * 0.01, "epoch": step / 10}, step=step)
gitexp.summary["final"] = 1 / (1 + lr * steps) + seed * 0.01
gitexp.finish()
"""
RUNS = ((0.1, 0, 20), (0.1, 1, 25), (0.5, 0, 20), (0.5, 1, 20))


def loss_points(lr: float, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    step = np.arange(0, steps, 1 + seed, dtype=float)
    return step / 10, 1 / (1 + lr * step) + seed * 0.01


def record_seeds(root: Path) -> Path:
    """A repository with the four runs of :data:`RUNS` (named ``lr0.1-s0`` ...)."""
    home = root / "home"
    home.mkdir()
    env = isolated_env(home)
    repo = root / "project"
    repo.mkdir()

    def call(*args: str) -> None:
        subprocess.run(args, cwd=repo, env=env, check=True, capture_output=True, timeout=120)

    call("git", "init", "-q")
    (repo / "train.py").write_text(SEEDS_SCRIPT)
    call("git", "add", "-A")
    call("git", "commit", "-q", "-m", "train")
    for lr, seed, steps in RUNS:
        name = f"lr{lr}-s{seed}"
        call(sys.executable, "-m", "gitexp", "run", "--name", name, "--", sys.executable,
             "train.py", str(lr), str(seed), str(steps))  # fmt: skip
    return repo
