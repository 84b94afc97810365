"""Progress bars: drawn for a person at a terminal, never into a pipe or under --json."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import git, gitexp
from sharing_servers import dvc_setup

TQDM_BAR = "%|"  # tqdm's bar: "100%|█████| 2/2 [...]"


def _in_terminal(cwd: Path, *args: str, rows: int = 30, columns: int = 100) -> tuple[int, str]:
    """Run gitexp with stdout and stderr on a pseudo-terminal of that size, as in a shell."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "gitexp", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    """``repo`` with DVC and a folder DVC remote, a bare origin, and two runs with artifacts."""
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up DVC")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo, "push", "-q", "-u", "origin", "main")
    for seed in ("1", "2"):
        write = f"open('model.ckpt', 'w').write('weights {seed}')"
        done = gitexp("run", "--out", "model.ckpt", "--", sys.executable, "-c", write, cwd=repo)
        assert done.returncode == 0, done.stderr
    return repo


def test_push_pull_and_gc_draw_bars_on_a_terminal_only(project: Path, tmp_path: Path) -> None:
    code, shown = _in_terminal(project, "push", "origin")
    assert code == 0, shown
    assert "comparing runs with origin" in shown and TQDM_BAR in shown
    assert "Pushing to" in shown  # DVC's own upload bar, let through on a terminal

    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "other")
    other = tmp_path / "other"
    code, shown = _in_terminal(other, "pull", "origin")
    assert code == 0, shown
    assert "updating runs" in shown and TQDM_BAR in shown
    assert "reading artifact lists" in shown

    code, shown = _in_terminal(project, "gc", "--dry-run", "--keep-recent", "0")
    assert code == 0, shown
    assert "reading runs' artifacts" in shown and "listing the cache" in shown

    # The same commands into pipes: the reports, and no bar.
    for cwd, args in (
        (project, ("push", "origin")),
        (other, ("pull", "origin")),
        (project, ("gc", "--dry-run", "--keep-recent", "0")),
    ):
        done = gitexp(*args, cwd=cwd)
        assert done.returncode == 0, done.stderr
        assert TQDM_BAR not in done.stderr and "\r" not in done.stderr, done.stderr


def test_json_output_draws_no_bar_even_on_a_terminal(project: Path) -> None:
    for args in (("push", "origin", "--json"), ("gc", "--dry-run", "--json")):
        code, shown = _in_terminal(project, *args)
        assert code == 0, shown
        assert TQDM_BAR not in shown and "comparing runs" not in shown, shown
        assert "Pushing to" not in shown  # nor DVC's


def test_a_terminal_that_reports_no_size_still_gets_bars(project: Path) -> None:
    # A bare pseudo-terminal says 0 x 0; tqdm alone would draw an empty bar there.
    code, shown = _in_terminal(project, "push", "origin", rows=0, columns=0)
    assert code == 0, shown
    assert "comparing runs with origin" in shown and TQDM_BAR in shown


def test_sweep_prints_a_progress_line_per_run_on_a_terminal_only(repo: Path) -> None:
    args = ("sweep", "-p", "x=1,2", "--name", "pt", "--", sys.executable, "-c", "1")
    code, shown = _in_terminal(repo, *args)
    assert code == 0, shown
    assert "1/2 [" in shown and "2/2 [" in shown and "pt-x=2 done" in shown
    again = ("sweep", "-p", "x=1,2", "--name", "piped", "--", sys.executable, "-c", "2")
    done = gitexp(*again, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert TQDM_BAR not in done.stderr and "2/2 [" not in done.stderr


def test_import_gitexp_and_gitexp_run_do_not_import_tqdm(repo: Path) -> None:
    code = "import sys, gitexp; assert 'tqdm' not in sys.modules, 'tqdm imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # -X importtime lists every module the wrapper imports, on its own stderr.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitexp", "run", "--", "true"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "gitexp.cli" in imported  # the listing is real
    assert not [name for name in imported if name.split(".")[0] == "tqdm"]
    # nor what only the guide, doctor, completion and bars need
    unneeded = {"gitexp.guide", "gitexp.cli_progress", "gitexp.cli_completion"}
    assert not unneeded & set(imported) and "gitexp.read.doctor" not in imported
