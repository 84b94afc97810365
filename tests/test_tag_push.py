"""Tags added after the fact travel with plain `git push`, as fast-forwards (no --force)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import git, gitexp, run_refs

RUNS = "refs/gitexp/runs/*:refs/gitexp/runs/*"


def _tags(repo: Path, run_id: str) -> list[str]:
    info = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json"))
    return list(info["tags"])


def test_a_tag_pushed_to_a_remote(repo: Path, tmp_path: Path) -> None:
    done = gitexp("run", "--tag", "draft", "--", sys.executable, "-c", "pass", cwd=repo)
    assert done.returncode == 0, done.stderr
    [run_id] = run_refs(repo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), RUNS)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(clone, "fetch", "-q", "origin", RUNS)
    assert _tags(clone, run_id) == ["draft"]

    assert gitexp("tag", run_id, "+best", "-draft", cwd=repo).returncode == 0
    pushed = subprocess.run(
        ["git", "push", "--porcelain", str(remote), RUNS], cwd=repo, capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    # " " marks a fast-forward ("+" would be a forced update).
    assert any(line.startswith(" \t") and run_id in line for line in pushed.stdout.splitlines()), (
        pushed.stdout
    )

    fetched = subprocess.run(
        ["git", "fetch", "origin", RUNS], cwd=clone, capture_output=True, text=True
    )
    assert fetched.returncode == 0, fetched.stderr
    assert "forced update" not in fetched.stderr
    assert _tags(clone, run_id) == ["best"]
    listed = json.loads(gitexp("ls", "--where", '"best" in tags', "--json", cwd=clone).stdout)
    assert [row["id"] for row in listed] == [run_id]
