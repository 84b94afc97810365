"""Shared fixtures: real git repositories in temporary folders, an isolated environment.

HOME and git's global/system config are pinned so the developer's own settings can
never leak into a test, and every gitexp variable is cleared.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A test run started in the background by a non-interactive shell inherits SIGINT
# ignored, and so would every process the tests start (an ignored signal stays ignored
# across exec): the tests of Ctrl-C would then test nothing. Python's own handler here
# makes the children start with the default disposition again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Tests that need an optional package skip with the install command when it is missing;
# .ci/run installs them all, so CI runs every test.
requires_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="needs torch: pip install torch==2.13.0 (CPU build; .ci/run installs it)",
)

# .ci/run installs every extra and sets GITEXP_REQUIRE_INTEGRATIONS=1: there a missing
# framework fails its tests rather than skipping them. Read here, before isolated_env
# clears every GITEXP_ variable.
REQUIRE_INTEGRATIONS = os.environ.get("GITEXP_REQUIRE_INTEGRATIONS") == "1"


def require(module_name: str, load: bool = True) -> Any:
    """The optional module; skip without it (fail under GITEXP_REQUIRE_INTEGRATIONS=1).

    ``load=False``: only check that it is installed, for a framework the test runs in a
    subprocess with settings of its own (Keras needs ``KERAS_BACKEND`` before import)."""
    if not load:
        if importlib.util.find_spec(module_name) is not None:
            return None
        if REQUIRE_INTEGRATIONS:
            pytest.fail(f"{module_name} is not installed (GITEXP_REQUIRE_INTEGRATIONS=1)")
        pytest.skip(f"needs {module_name}")
    if REQUIRE_INTEGRATIONS:
        return importlib.import_module(module_name)
    return pytest.importorskip(module_name)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    pin_environment(monkeypatch, tmp_path_factory.mktemp("home"))


def pin_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The isolated environment, also for module-scoped fixtures (``MonkeyPatch.context``)."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("GITEXP_") or name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
            monkeypatch.delenv(name, raising=False)
    # The terminal's width and colour choices of whoever runs the tests (pytest-xdist's
    # workers even export COLUMNS) would change what a table shows.
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )


def git(cwd: Path | str, *args: str, check: bool = True) -> str:
    """Run the real git binary; return its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True)
    return done.stdout


def gitexp(
    *args: str,
    cwd: Path | str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the gitexp command line as a user would, in its own process."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "gitexp", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A git repository with no commits yet."""
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q")
    return path


@pytest.fixture
def repo(empty_repo: Path) -> Path:
    """A git repository with one commit: a training script, a config and a .gitignore."""
    (empty_repo / "train.py").write_text(
        "import gitexp\n"
        "run = gitexp.init(config={'lr': 0.1, 'epochs': 3})\n"
        "for step in range(run.config.epochs):\n"
        "    gitexp.log({'loss': 1.0 / (step + 1), 'acc': step / 10})\n"
        "print('trained')\n"
        "gitexp.finish()\n"
    )
    (empty_repo / "config.yaml").write_text("lr: 0.05\nbatch: 32\nmodel:\n  depth: 2\n")
    (empty_repo / ".gitignore").write_text("data/\n*.ckpt\n")
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-q", "-m", "initial")
    return empty_repo


@pytest.fixture
def in_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``repo`` as the current directory (for in-process API tests)."""
    monkeypatch.chdir(repo)
    yield repo


def run_refs(repo: Path) -> dict[str, str]:
    """{run id: commit} as the git binary sees them."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gitexp/runs")
    refs = {}
    for line in out.splitlines():
        name, sha = line.split()
        refs[name.rsplit("/", 1)[1]] = sha
    return refs
