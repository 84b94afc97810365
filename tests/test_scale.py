"""What made many runs fast must not change an answer (issue 21, part 4).

Checking many runs at once (``pull``) reads each folder of their trees once per path
and asks git for every file size at once; listing pauses the garbage collector and
decodes only the rows it shows.  Each test compares with what one run alone, or git
itself, says.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import git, gitexp, run_refs

from gitexp.git.repo import GitRepo
from gitexp.read.trust import check_commit, check_runs

LONG = "d" * 250  # 17 nested folders of this name: paths over the 4,096-byte limit


def _tree(repo: Path, entries: list[str]) -> str:
    done = subprocess.run(
        ["git", "mktree"], cwd=repo, input="".join(f"{e}\n" for e in entries),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _run_with(repo: Path, base: str, name: str, folder: str) -> str:
    """A commit of the run ``base``'s tree plus ``folder`` under the top entry ``name``."""
    root = git(repo, "ls-tree", f"{base}^{{tree}}").splitlines()
    tree = _tree(repo, [*root, f"040000 tree {folder}\t{name}"])
    return git(repo, "commit-tree", tree, "-p", base, "-m", "gitexp: crafted").strip()


def _nested(repo: Path, inner: str, depth: int) -> str:
    for _ in range(depth):
        inner = _tree(repo, [f"040000 tree {inner}\t{LONG}"])
    return inner


def test_a_folder_shared_by_runs_is_judged_by_its_path_in_each(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    (base,) = run_refs(repo).values()
    blob = git(repo, "hash-object", "-w", "--stdin").strip()  # an empty file
    shared = _tree(repo, [f"100644 blob {blob}\tweights.txt"])
    short = _run_with(repo, base, "src", shared)
    deep = _run_with(repo, base, "src", _nested(repo, shared, 17))
    also_short = _run_with(repo, base, "lib", shared)
    runs = {"aaaaaaaaaaaa": short.encode(), "bbbbbbbbbbbb": deep.encode()}
    runs["cccccccccccc"] = also_short.encode()
    with GitRepo.discover(str(repo)) as opened:
        alone = {run_id: check_commit(opened, sha) for run_id, sha in runs.items()}
        together = check_runs(opened, runs)
        backwards = check_runs(opened, dict(reversed(runs.items())))
    assert alone["aaaaaaaaaaaa"] is None and alone["cccccccccccc"] is None
    assert "longer than 4096 bytes" in str(alone["bbbbbbbbbbbb"])
    assert together == alone
    assert backwards == alone


def test_a_bad_folder_shared_by_runs_quarantines_each(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    (base,) = run_refs(repo).values()
    blob = git(repo, "hash-object", "-w", "--stdin").strip()
    # A folder named .git inside the run: what a hostile remote might send.
    inner = _tree(repo, [f"100644 blob {blob}\tx"])
    bad = _tree(repo, [f"040000 tree {inner}\t.git"])
    runs = {
        "dddddddddddd": _run_with(repo, base, "src", bad).encode(),
        "eeeeeeeeeeee": _run_with(repo, base, "lib", bad).encode(),
    }
    with GitRepo.discover(str(repo)) as opened:
        found = check_runs(opened, runs)
        alone = {run_id: check_commit(opened, sha) for run_id, sha in runs.items()}
    assert found == alone
    assert all("points into .git" in str(reason) for reason in found.values()), found


def test_ls_shows_projects_and_filters_without_reading_every_row(repo: Path) -> None:
    for lr in ("0.1", "0.01", "0.001"):
        assert gitexp("run", "-p", f"lr={lr}", "--", "true", cwd=repo).returncode == 0
    project = repo.name
    shown = gitexp("ls", "-n", "2", "--json", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert len(rows) == 2 and all(row["project"] == project for row in rows)
    where = gitexp("ls", "--where", "config.lr < 0.05", "--json", cwd=repo)
    assert sorted(row["config"]["lr"] for row in json.loads(where.stdout)) == [
        0.001,
        0.01,
    ]
    other = gitexp("ls", "--project", "elsewhere", "--json", cwd=repo)
    assert other.returncode == 0 and json.loads(other.stdout) == []
