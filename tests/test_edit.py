"""gitexp tag / note / rename: edits are appended commits (fast-forwards), never rewrites."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, gitexp, run_refs


def _record(repo: Path, name: str) -> str:
    done = gitexp(
        "run", "--name", name, "--tag", "draft", "--", sys.executable, "-c", "pass", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    return next(rid for rid, _ in run_refs(repo).items())


def _run_json(repo: Path, run_id: str) -> dict[str, object]:
    return dict(json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json")))


def test_tag_note_rename_append_fast_forward_commits(repo: Path) -> None:
    run_id = _record(repo, "first")
    before = run_refs(repo)[run_id]
    tree_before = git(repo, "ls-tree", "-r", before).splitlines()

    done = gitexp("tag", run_id[:7], "+best", "-draft", "keep", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert gitexp("note", "first", "warmup helped", cwd=repo).returncode == 0
    assert gitexp("rename", "latest", "second", cwd=repo).returncode == 0

    info = _run_json(repo, run_id)
    assert info["tags"] == ["best", "keep"]
    assert info["notes"] == "warmup helped"
    assert info["name"] == "second"
    after = run_refs(repo)[run_id]
    # A chain of three edit commits on top of the recorded one.
    assert git(repo, "rev-list", "--count", f"{before}..{after}").strip() == "3"
    subprocess.run(["git", "merge-base", "--is-ancestor", before, after], cwd=repo, check=True)
    # Only .gitexp/run.json changed.
    tree_after = git(repo, "ls-tree", "-r", after).splitlines()
    changed = set(tree_before) ^ set(tree_after)
    assert {line.split("\t")[1] for line in changed} == {".gitexp/run.json"}
    # The listing row follows, so ls shows the new name and the old one is gone.
    listing = json.loads(gitexp("ls", "--json", cwd=repo).stdout)
    assert listing[0]["name"] == "second" and listing[0]["tags"] == ["best", "keep"]
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo).returncode == 0


def test_editing_a_running_run_is_refused(repo: Path) -> None:
    child = "import time; time.sleep(30)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "run", "--", sys.executable, "-c", child],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if run_refs(repo):
                break
            time.sleep(0.05)
        run_id = next(iter(run_refs(repo)))
        before = run_refs(repo)[run_id]
        done = gitexp("tag", run_id, "+x", cwd=repo)
        assert done.returncode == 6
        assert "still running" in done.stderr
        assert run_refs(repo)[run_id] == before
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_tag_usage_errors(repo: Path) -> None:
    run_id = _record(repo, "r")
    before = run_refs(repo)[run_id]
    assert gitexp("tag", run_id, cwd=repo).returncode == 2
    assert gitexp("tag", run_id, "+two words", cwd=repo).returncode == 2
    assert gitexp("rename", run_id, " ", cwd=repo).returncode == 2
    assert gitexp("tag", "nosuchrun", "+x", cwd=repo).returncode == 5
    assert run_refs(repo)[run_id] == before
