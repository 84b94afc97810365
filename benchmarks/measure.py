"""Measuring: the records every benchmark works with, and running, timing and comparing.

A benchmark gets a ``Context`` (its scratch folder, the size, the environment), times
commands with ``timed`` or ``timed_rss``, measures gitexp and its comparison points
alternately with ``alternate``, and turns the samples into a ``Row`` with ``compare``
(medians and their ratio against a limit) or ``absolute`` (gitexp's own median against
a limit).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import peers
import workloads as wl

GITEXP = wl.GITEXP
PY = wl.PY
COMMAND_TIMEOUT = 900.0


@dataclass(frozen=True)
class Size:
    small_files: int
    large_files: int
    runs: int
    push_runs: int
    artifact_bytes: int
    log_calls: int
    wandb_log_calls: int
    repeat: int
    scale_runs: tuple[int, ...] = ()  # the sizes `scale` measures (--scale-runs)


SIZES = {
    "full": Size(800, 20_000, 10_000, 1_000, 1 << 30, 200_000, 20_000, 7, (1_000, 10_000)),
    # Small enough for the test suite; the artifact stays over the 10 MiB snapshot limit.
    "tiny": Size(40, 400, 200, 20, 16 << 20, 20_000, 2_000, 2, (100,)),
}


@dataclass
class Row:
    """One line of the report: gitexp's median against one comparison point."""

    name: str
    what: str
    unit: str  # "s", "/s", "MB", "rows"
    ours: float | None = None
    against: str = ""
    theirs: float | None = None
    ratio: float | None = None  # ours / theirs, in the row's unit
    target: str = ""
    verdict: str = ""  # met, missed, info, or why there is no verdict
    note: str = ""


@dataclass
class Context:
    """What every benchmark gets: the scratch folder, the size and the environment."""

    root: Path
    size: Size
    repeat: int
    env: dict[str, str]
    say: Callable[[str], None]
    _repos: dict[str, Path] = field(default_factory=dict)
    peers_ready: bool = False

    def source(self, files: int) -> Path:
        """The synthetic source repository of ``files`` files, built once per harness run."""
        key = f"src{files}"
        if key not in self._repos:
            self.say(f"building a repository of {files:,} files")
            self._repos[key] = wl.source_repo(self.root, key, files)
        return self._repos[key]

    def peers_env(self) -> dict[str, str]:
        if not self.peers_ready:
            peers.ensure(self.say)
            self.peers_ready = True
        wandb_dir = self.root / "wandb"
        wandb_dir.mkdir(exist_ok=True)
        return dict(
            self.env,
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            WANDB_DIR=str(wandb_dir),
            DVC_NO_ANALYTICS="1",
        )


def run_cmd(
    cmd: list[str], cwd: Path, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, capture_output=True, timeout=COMMAND_TIMEOUT
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)[:200]} exited with {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-1500:]}"
        )
    return done


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    run_cmd(cmd, cwd, env)
    return time.perf_counter() - start


def timed_rss(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one command (and its children)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {err.read()!r}")
    return elapsed, usage.ru_maxrss / 1024  # KiB on Linux


def alternate(
    steps: dict[str, Callable[[], float]], repeat: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Call each step in turn, ``repeat`` rounds after ``warmup`` untimed ones.

    Alternating spreads the machine's background noise (it is shared) over all of them
    alike, where measuring one after the other would load it onto whichever ran during
    a busy spell.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            samples[name].append(step())
    return samples


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def compare(
    row: Row, ours: list[float], theirs: list[float] | None, limit: float | None, at_most: bool
) -> Row:
    """Fill in the medians, the ratio and the verdict (``limit`` applies to the ratio)."""
    row.ours = median(ours)
    if theirs:
        row.theirs = median(theirs)
        row.ratio = row.ours / row.theirs if row.theirs else None
    if limit is None or row.ratio is None:
        row.verdict = row.verdict or "info"
    else:
        ok = row.ratio <= limit if at_most else row.ratio >= limit
        row.verdict = "met" if ok else "missed"
    return row


def absolute(row: Row, limit: float, at_most: bool = True) -> Row:
    """A verdict on gitexp's own median (seconds, MB, calls/s) rather than a ratio."""
    assert row.ours is not None
    ok = row.ours <= limit if at_most else row.ours >= limit
    row.verdict = "met" if ok else "missed"
    return row


def gitexp_has(command: list[str], needle: str, ctx: Context) -> bool:
    """Whether this gitexp has a command or option (others are building some now)."""
    done = subprocess.run(
        [*GITEXP, *command, "--help"], capture_output=True, text=True, env=ctx.env
    )
    return done.returncode == 0 and needle in done.stdout


def base_env(home: Path, root: Path) -> dict[str, str]:
    """The environment every measured command gets.

    A scratch HOME with a git identity (nothing of the user's config), none of gitexp's,
    git's, wandb's, MLflow's or DVC's variables (a harness run under ``gitexp run`` must
    not join that run), and bytecode caching on, in a scratch folder: every Python
    command then runs as it does on an installed machine, even where the caller
    disabled writing bytecode, and nothing is written into the source tree.
    """
    drop = ("GITEXP_", "GIT_", "WANDB_", "MLFLOW_", "DVC_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        PYTHONPYCACHEPREFIX=str(root / "pycache"),
    )
    return env
