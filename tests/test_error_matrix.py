"""Every command in every unusual repository a newcomer meets: an answer, never a crash.

The matrix is ``gitexp.cli.COMMANDS`` (so a command added later is covered without
editing this file) times the states below, plus the commands that move artifacts once
more in the two DVC states.  Each cell runs the real command line in its own process, in
a copy of a repository built once per state with the real ``git`` binary, and checks: no
exit 70 (internal error), no traceback, a documented exit code, an error that starts
with ``gitexp: error:``, and, for the commands this file knows, the outcome documented
in docs/cli.md ("What each command does in an unusual repository").
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gitexp, pin_environment

from gitexp import errors
from gitexp.cli import COMMANDS, build_parser

PY = sys.executable
# A script that logs one metric, so that plot, compare and report have something to draw.
TRAIN = (
    "import gitexp\ngitexp.init(config={'lr': 0.1})\ngitexp.log({'loss': 0.5})\ngitexp.finish()\n"
)

# A minimal command line per command.  A command missing here gets one made from its
# parser (a run reference for each positional), so it is in the matrix from the day it
# lands; then only the generic checks apply to it.
ARGS: dict[str, list[str]] = {
    "run": ["--", PY, "-c", "pass"],
    "sweep": ["-p", "x=1", "--", PY, "-c", "pass"],
    "ls": [],
    "show": ["latest"],
    "diff": ["latest", "latest"],
    "compare": ["latest"],
    "plot": ["loss", "--runs", "latest"],
    "report": ["latest", "-o", "report.html"],
    "ui": ["--port", "0"],  # serves until stopped: _run_ui stops it once it serves
    "tag": ["latest", "+matrix"],
    "note": ["latest", "a note"],
    "rename": ["latest", "renamed"],
    "restore": ["latest"],
    "branch": ["latest", "from-run"],
    "rerun": ["latest"],
    "rm": ["latest"],
    "push": [],  # to the remote git would use: origin
    "pull": [],
    "install": [],
    "uninstall": [],
    "gc": [],
    "demo": ["demo-here"],  # a new folder under the current one; needs no repository
    "doctor": [],
    "completion": ["bash"],  # a script for the shell; needs no repository
    "import": ["tensorboard", "."],  # a folder without event files: nothing to import
    "export": [],
    "shim": ["status"],  # reads this Python's site-packages; needs no repository
}

# The commands that move artifacts, once more with arguments that make them do so (push,
# pull and gc do it with the arguments above).  In the two DVC states only: elsewhere no
# run has artifacts.  ``latest~1`` is the run with an artifact (_runs_with_artifacts).
ARTIFACT_ARGS: dict[str, list[str]] = {
    "run --out": ["run", "--out", "model.bin", "--", PY, "-c", "open('model.bin','w').write('2')"],
    "restore artifact": ["restore", "latest~1", "model.bin"],
}

STATES = (
    "no_commits",  # `git init`, nothing committed; runs recorded
    "bare",  # inside a bare repository
    "outside",  # in a folder that is in no git repository
    "subfolder",  # in src/ of a work tree
    "detached",  # HEAD detached at the last commit
    "no_dvc",  # runs with artifacts, but no DVC project (never committed, or removed)
    "dvc_unimportable",  # a DVC project and runs with artifacts; `import dvc` fails
)

DOCUMENTED = {
    0,
    1,
    *(getattr(errors, n) for n in dir(errors) if n.startswith("EXIT_") and n != "EXIT_INTERNAL"),
    127,
    130,
}

NO_DVC_PROJECT = (errors.EXIT_REPO_STATE, "has no DVC project")
DVC_UNAVAILABLE = (errors.EXIT_REPO_STATE, "DVC cannot be imported")
# The outcomes docs/cli.md documents: (exit code, a phrase of the answer).  Anything not
# listed for a state answers exit 0.
EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    "no_commits": {"gc": NO_DVC_PROJECT},
    "subfolder": {"gc": NO_DVC_PROJECT},
    "detached": {"gc": NO_DVC_PROJECT},
    "no_dvc": {
        "gc": NO_DVC_PROJECT,
        "push": (errors.EXIT_TRANSFER, "has no DVC project"),  # the run with artifacts
        "pull": (errors.EXIT_TRANSFER, "has no DVC project"),
        "run --out": NO_DVC_PROJECT,  # refused before the command runs
        "restore artifact": NO_DVC_PROJECT,
    },
    "dvc_unimportable": {
        "gc": DVC_UNAVAILABLE,
        "push": (errors.EXIT_TRANSFER, "DVC cannot be imported"),
        "pull": (errors.EXIT_TRANSFER, "DVC cannot be imported"),
        # The packages are there, their import fails: found when the run ends; the run is
        # recorded with a warning (its files stay in the work tree).
        "run --out": (0, "DVC cannot be imported"),
        "restore artifact": DVC_UNAVAILABLE,
        "doctor": (errors.EXIT_REPO_STATE, "DVC cannot be imported"),  # its check fails
    },
}
NO_REPOSITORY_NEEDED = ("demo", "completion", "shim")
for _state, _phrase in (("bare", "is a bare git repository"), ("outside", "not inside a git")):
    EXPECTED[_state] = {
        c: (errors.EXIT_NOT_A_REPO, _phrase) for c in COMMANDS if c not in NO_REPOSITORY_NEEDED
    }


def _args(command: str) -> list[str]:
    if command in ARGS:
        return ARGS[command]
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return ["latest" for a in sub.choices[command]._actions if not a.option_strings]


# -- the states, built once each -----------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def _gitexp_ok(cwd: Path, *args: str) -> None:
    done = gitexp(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr


def _project(root: Path, *, commit: bool) -> Path:
    """A project with a training script and a subfolder, and a bare remote beside it."""
    project = root / "project"
    (project / "src").mkdir(parents=True)
    _git(project, "init", "-q")
    (project / "train.py").write_text(TRAIN)
    (project / "src" / "model.py").write_text("DEPTH = 2\n")
    (project / ".gitignore").write_text("data/\n")
    if commit:
        _git(project, "add", "-A")
        _git(project, "commit", "-q", "-m", "initial")
    _git(root, "init", "-q", "--bare", "origin.git")
    _git(project, "remote", "add", "origin", str(root / "origin.git"))
    return project


def _runs_with_artifacts(project: Path) -> None:
    """A DVC project (its remote beside it, by a relative url so that copies stay apart)
    with a run whose artifact only the remote has (pull must download it), and one whose
    artifact only this clone has (push must upload it; restore must read the cache)."""
    subprocess.run([PY, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    (project / ".dvc" / "config").write_text(
        "[core]\n    remote = store\n['remote \"store\"']\n    url = ../../dvc-store\n"
    )
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "Set up DVC")
    _gitexp_ok(
        project, "run", "--out", "model.bin", "--", PY, "-c", "open('model.bin','w').write('0')"
    )
    _gitexp_ok(project, "push")
    pushed = _git(project, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitexp/runs")
    _git(project, "update-ref", "-d", f"refs/gitexp/runs/{pushed.strip()}")
    _git(project, "update-ref", "-d", f"refs/remotes/origin/gitexp/runs/{pushed.strip()}")
    _gitexp_ok(
        project, "run", "--out", "model.bin", "--", PY, "-c", "open('model.bin','w').write('1')"
    )
    (project / "model.bin").unlink()


def _build(state: str, root: Path) -> str:
    """Build ``state`` under ``root``; return the folder (relative to root) to run in."""
    if state == "bare":
        _git(root, "init", "-q", "--bare", "project.git")
        return "project.git"
    if state == "outside":
        (root / "plain").mkdir()
        return "plain"
    project = _project(root, commit=state != "no_commits")
    if state == "detached":
        _git(project, "checkout", "-q", "--detach")
    if state in ("no_dvc", "dvc_unimportable"):
        _runs_with_artifacts(project)
    if state == "no_dvc":
        # The DVC set-up is gone (a branch without it, a clone of a project that never
        # committed .dvc/), and the cache with it; the runs still point into DVC.
        _git(project, "rm", "-r", "-q", ".dvc", ".dvcignore")
        _git(project, "commit", "-q", "-m", "Drop DVC")
        shutil.rmtree(project / ".dvc")
    _gitexp_ok(project, "run", "--", PY, "train.py")  # `latest`
    return "project/src" if state == "subfolder" else "project"


class _Templates:
    """Each state built on first use, once per test process (a ``-k`` run builds only
    what it selects); the cells work on copies, so they may change what they like."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.built: dict[str, tuple[Path, str]] = {}

    def copy(self, state: str, into: Path) -> Path:
        if state not in self.built:
            with pytest.MonkeyPatch.context() as monkeypatch:
                pin_environment(monkeypatch, self.factory.mktemp("home"))
                root = self.factory.mktemp(f"state-{state}")
                self.built[state] = (root, _build(state, root))
        root, folder = self.built[state]
        shutil.copytree(root, into, symlinks=True)
        if (into / "origin.git").is_dir():  # the copy's own remote, not the template's
            _git(into / "project", "remote", "set-url", "origin", str(into / "origin.git"))
        return into / folder


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> _Templates:
    return _Templates(tmp_path_factory)


@pytest.fixture(scope="module")
def fake_dvc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that, first on sys.path, makes DVC and its data layer fail to import, as
    a broken install does (the packages are found, their import raises)."""
    where = tmp_path_factory.mktemp("dvc-unimportable")
    for package in ("dvc", "dvc_data", "dvc_objects"):
        (where / package).mkdir()
        (where / package / "__init__.py").write_text(
            f"raise ImportError('{package} cannot be imported (simulated by the test)')\n"
        )
    return where


# -- the matrix ------------------------------------------------------------------------------


def _cells() -> list[object]:
    cells: list[object] = []
    for state in STATES:
        labelled = {command: [command, *_args(command)] for command in COMMANDS}
        if state in ("no_dvc", "dvc_unimportable"):
            labelled.update(ARTIFACT_ARGS)
        for label, argv in labelled.items():
            cells.append(pytest.param(state, label, argv, id=f"{state}-{label}"))
    return cells


def _run_ui(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``gitexp ui`` serves until stopped: once it says it serves, SIGTERM stops it."""
    proc = subprocess.Popen(
        [PY, "-m", "gitexp", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    serving = False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while not serving and proc.poll() is None and time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = proc.stdout.readline()
                if not line:
                    break  # it closed stdout: it is exiting
                serving = "serving" in line
    if serving:
        proc.send_signal(signal.SIGTERM)
    elif proc.poll() is None:
        proc.kill()  # neither served nor exited in 30 s: fails below with exit -9
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(("state", "label", "argv"), _cells())
def test_command_in_state(
    state: str,
    label: str,
    argv: list[str],
    templates: _Templates,
    fake_dvc: Path,
    tmp_path: Path,
) -> None:
    cwd = templates.copy(state, tmp_path / "w")
    env = dict(os.environ)
    if state == "dvc_unimportable":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(fake_dvc), env.get("PYTHONPATH")]))
    if argv[0] == "ui":
        done = _run_ui(argv, cwd, env)
    else:
        done = subprocess.run(
            [PY, "-m", "gitexp", *argv], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    shown = (
        f"gitexp {' '.join(argv)} in {state}: exit {done.returncode}\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    assert done.returncode != errors.EXIT_INTERNAL, shown
    assert "Traceback" not in done.stderr, shown
    assert done.returncode in DOCUMENTED, shown
    if done.returncode == errors.EXIT_TRANSFER:
        # A report of what moved comes first (and git's own fetch lines): the error ends it.
        assert "\ngitexp: error:" in "\n" + done.stderr, shown
    elif done.returncode != 0:
        assert done.stderr.startswith("gitexp: error:"), shown
    if label in ARGS or label in ARTIFACT_ARGS:
        code, phrase = EXPECTED.get(state, {}).get(label, (0, ""))
        assert done.returncode == code, shown
        assert phrase in done.stdout + done.stderr, shown


def test_no_remote_names_the_command_that_was_run(tmp_path: Path) -> None:
    """A first push, pull or cloud gc before `git remote add`: the hint names the way to
    name a remote in the command that was run."""
    project = _project(tmp_path, commit=True)
    _git(project, "remote", "remove", "origin")
    subprocess.run([PY, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    for argv, hint in (
        (["push"], "`gitexp push REMOTE`"),
        (["pull"], "`gitexp pull REMOTE`"),
        (["gc", "--cloud"], "`gitexp gc --cloud --remote REMOTE`"),
    ):
        done = gitexp(*argv, cwd=project)
        assert done.returncode == errors.EXIT_REPO_STATE, done.stderr
        assert done.stderr.startswith("gitexp: error: no remote to"), done.stderr
        assert hint in done.stderr and "git remote add origin URL" in done.stderr
