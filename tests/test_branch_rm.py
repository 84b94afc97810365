"""``gitexp branch`` (a run's code as a git branch) and ``gitexp rm`` (deleting runs)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import git, gitexp, run_refs
from test_restore import inside, record

from gitexp.git.repo import GitRepo
from gitexp.model.record import FINISHED
from gitexp.record.starting import start_run

# -- branch ------------------------------------------------------------------------------------


def test_branch_holds_the_run_code_on_its_baseline(repo: Path) -> None:
    baseline = git(repo, "rev-parse", "HEAD").strip()
    (repo / "train.py").write_text("print('tuned')\n")
    (repo / "extra.py").write_text("EXTRA = 1\n")
    os.chmod(repo / "extra.py", 0o755)
    run_id = record(repo)
    (repo / "train.py").write_text("print('later work')\n")

    done = gitexp("branch", run_id[:7], "good-run", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "git switch good-run" in done.stderr
    assert git(repo, "rev-parse", "good-run^").strip() == baseline
    files = git(repo, "ls-tree", "-r", "--name-only", "good-run").split()
    assert sorted(files) == [".gitignore", "config.yaml", "extra.py", "train.py"]
    assert git(repo, "show", "good-run:train.py") == "print('tuned')\n"
    assert git(repo, "ls-tree", "good-run", "extra.py").startswith("100755")
    assert run_id in git(repo, "log", "-1", "--format=%B", "good-run")
    # Nothing else moved: HEAD, the current branch and the work tree.
    assert git(repo, "rev-parse", "HEAD").strip() == baseline
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert (repo / "train.py").read_text() == "print('later work')\n"


def test_branch_of_a_clean_run_points_at_its_baseline(repo: Path) -> None:
    run_id = record(repo)
    done = gitexp("branch", run_id, "clean", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(repo, "rev-parse", "clean") == git(repo, "rev-parse", "HEAD")


def test_branch_without_a_baseline_is_a_root_commit(empty_repo: Path) -> None:
    (empty_repo / "a.txt").write_text("first\n")
    run_id = record(empty_repo)
    done = gitexp("branch", run_id, "start", cwd=empty_repo)
    assert done.returncode == 0, done.stderr
    assert git(empty_repo, "rev-list", "--count", "start").strip() == "1"
    assert git(empty_repo, "show", "start:a.txt") == "first\n"


def test_branch_refuses_existing_and_invalid_names(repo: Path) -> None:
    run_id = record(repo)
    exists = gitexp("branch", run_id, "main", cwd=repo)
    assert exists.returncode == 6 and "exists already" in exists.stderr
    invalid = gitexp("branch", run_id, "bad..name", cwd=repo)
    assert invalid.returncode == 2 and "not a valid branch name" in invalid.stderr


# -- rm ----------------------------------------------------------------------------------------


def test_rm_deletes_refs_and_prints_how_to_undo(repo: Path) -> None:
    first, second, third = record(repo), record(repo), record(repo)
    done = gitexp("rm", first, second[:7], cwd=repo)
    assert done.returncode == 0, done.stderr
    assert set(run_refs(repo)) == {third}
    assert first[:7] in done.stdout and second[:7] in done.stdout
    undo = [line.split() for line in done.stderr.splitlines() if "update-ref refs/" in line]
    assert len(undo) == 2
    git(repo, *undo[-1][2:])  # `git update-ref <ref> <commit>` brings one back
    assert len(run_refs(repo)) == 2


def test_rm_dry_run_deletes_nothing(repo: Path) -> None:
    run_id = record(repo)
    done = gitexp("rm", run_id, "--dry-run", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)
    assert item["id"] == run_id and item["deleted"] is False
    assert set(run_refs(repo)) == {run_id}


def test_rm_refuses_ambiguous_or_unknown_references_and_deletes_nothing(repo: Path) -> None:
    for _ in range(2):
        done = gitexp("run", "--name", "twin", "--", sys.executable, "-c", "pass", cwd=repo)
        assert done.returncode == 0, done.stderr
    other = record(repo)
    ambiguous = gitexp("rm", other, "twin", cwd=repo)
    assert ambiguous.returncode == 5 and "matches 2 runs" in ambiguous.stderr
    unknown = gitexp("rm", other, "nosuch", cwd=repo)
    assert unknown.returncode == 5
    assert len(run_refs(repo)) == 3


def test_rm_refuses_a_run_running_here_unless_forced(repo: Path) -> None:
    with inside(repo), GitRepo.discover(str(repo)) as handle:
        recorder, _snapshot = start_run(handle, command=["sleep"], config={}, source="cli")
        try:
            refused = gitexp("rm", recorder.info.id, cwd=repo)
            assert refused.returncode == 6 and "still running" in refused.stderr
            assert recorder.info.id in run_refs(repo)
            forced = gitexp("rm", recorder.info.id, "--force", cwd=repo)
            assert forced.returncode == 0, forced.stderr
            assert recorder.info.id not in run_refs(repo)
        finally:
            recorder.live.remove()
            recorder.info.status = FINISHED  # nothing left to finalize
