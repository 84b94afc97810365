"""The comparison points that are other tools: their environment and their scripts.

wandb, MLflow and DVC are installed into a virtual environment of the harness's own
(``benchmarks/.venv-peers/``, git-ignored), never into gitexp's: their dependencies
must not change what gitexp imports or how fast.  The environment is made once and
reused while its package list is unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv-peers"
PACKAGES = ("wandb", "mlflow-skinny", "sqlalchemy", "alembic", "dvc")
MARKER = "gitexp-bench-packages.txt"

# The wandb-style script of target 3, written three times.  The same config, the same
# eight steps of two scalars; each ends with its tool's own "finish".
WANDB_SCRIPT = """\
import wandb

run = wandb.init(project="bench", config={"lr": 0.01, "epochs": 8, "batch": 64})
for step in range(8):
    wandb.log({"loss": 1.0 / (step + 1), "acc": step / 8})
wandb.finish()
"""

GITEXP_SCRIPT = WANDB_SCRIPT.replace("import wandb", "import gitexp as wandb")

MLFLOW_SCRIPT = """\
import sys

import mlflow

mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run():
    mlflow.log_params({"lr": 0.01, "epochs": 8, "batch": 64})
    for step in range(8):
        mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 8}, step=step)
"""

# Target 4: the cost of a log call on the training thread.  wandb hands each row to its
# service process; the loop is what training pays.
WANDB_LOG_SCRIPT = """\
import sys
import time

import wandb

n = int(sys.argv[1])
wandb.init(project="bench")
log = wandb.log
start = time.perf_counter()
for _ in range(n):
    log({"loss": 0.5, "acc": 0.9})
loop = time.perf_counter() - start
wandb.finish()
print(n / loop)
"""


def python() -> Path:
    return VENV / "bin" / "python"


def tool(name: str) -> str:
    return str(VENV / "bin" / name)


def ensure(say: Callable[[str], None] = print) -> Path:
    """The peers' Python, installing the environment first if needed (minutes)."""
    marker = VENV / MARKER
    wanted = "\n".join(PACKAGES) + "\n"
    if python().exists() and marker.exists() and marker.read_text() == wanted:
        return python()
    say(f"installing the peers ({', '.join(PACKAGES)}) into {VENV} (once; takes minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    log = VENV / "pip-install.log"
    with open(log, "wb") as handle:
        done = subprocess.run(
            [str(python()), "-m", "pip", "install", "--disable-pip-version-check", *PACKAGES],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise RuntimeError(f"installing the peers failed; see {log}")
    marker.write_text(wanted)
    return python()


def versions() -> dict[str, str]:
    """Installed versions of the peers (for the report)."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(name, m.version(name))\n"
    )
    done = subprocess.run(
        [str(python()), "-c", code, *PACKAGES],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    pairs = (line.split() for line in done.stdout.splitlines())
    return {name: version for name, version in pairs}
