"""``gitexp install`` / ``uninstall``: gitexp's hooks next to a user's own, undone exactly."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs
from sharing_servers import clone, dvc_env_fixture, ok  # noqa: F401 - fixture

from gitexp.share.hooks import HOOKS

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

USER_PRE_PUSH = """#!/bin/sh
# my team's pre-push hook
echo "user pre-push $1" >> "$(git rev-parse --git-dir)/user-hook.log"
cat >> "$(git rev-parse --git-dir)/user-hook.log"
exit 0
"""
USER_REF_TX = """#!/bin/sh
echo "user reference-transaction $1" >> "$(git rev-parse --git-dir)/user-hook.log"
cat > /dev/null
"""


def test_hook_templates_are_the_hooks_folder(tmp_path: Path) -> None:
    for name in HOOKS:
        canonical = ROOT / "hooks" / name
        packaged = ROOT / "gitexp" / "hooks_templates" / name
        assert canonical.read_bytes() == packaged.read_bytes(), name
        assert os.stat(canonical).st_mode & stat.S_IXUSR
        assert b"# gitexp-hook:" in canonical.read_bytes()


@pytest.fixture
def shared(tmp_path: Path, repo: Path) -> Path:
    git(tmp_path, "init", "-q", "--bare", "server.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "server.git"))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def _hooks(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def _server_runs(tmp_path: Path) -> set[str]:
    out = git(tmp_path / "server.git", "for-each-ref", "--format=%(refname)", "refs/gitexp/runs")
    return {line.rsplit("/", 1)[1] for line in out.split()}


def test_install_chains_user_hooks_and_uninstall_restores_them_byte_for_byte(
    shared: Path, tmp_path: Path
) -> None:
    hooks = _hooks(shared)
    (hooks / "pre-push").write_text(USER_PRE_PUSH)
    os.chmod(hooks / "pre-push", 0o750)
    (hooks / "reference-transaction").write_text(USER_REF_TX)
    os.chmod(hooks / "reference-transaction", 0o700)
    mine = ("pre-push", "reference-transaction")
    before = {name: ((hooks / name).read_bytes(), os.stat(hooks / name)) for name in mine}
    config_before = (shared / ".git" / "config").read_bytes()

    out = ok("install", cwd=shared)
    assert "yours moved to pre-push.gitexp-previous" in out
    assert (hooks / "pre-push.gitexp-previous").read_bytes() == before["pre-push"][0]
    assert (hooks / "reference-transaction").read_bytes() == before["reference-transaction"][0]
    installed = {name: (hooks / name).read_bytes() for name in HOOKS}
    again = ok("install", cwd=shared)  # idempotent
    assert again.count("already installed") == len(HOOKS) and "already fetches runs" in again
    assert {name: (hooks / name).read_bytes() for name in HOOKS} == installed

    ok("run", "--", PY, "-c", "print('hi')", cwd=shared)
    git(shared, "push", "-q")  # plain git push: the user's hook ran, and the runs went
    log = (shared / ".git" / "user-hook.log").read_text()
    assert "user pre-push origin" in log
    assert _server_runs(tmp_path) == set(run_refs(shared))
    assert "user reference-transaction committed" in log  # the user's own, never touched

    other = clone(str(tmp_path / "server.git"), tmp_path / "other")
    ok("install", cwd=other)
    git(other, "fetch", "-q")  # mirrors the runs; the next gitexp command makes them local
    assert run_refs(other) == {}
    listed = gitexp("ls", "--json", cwd=other)
    assert listed.returncode == 0, listed.stderr
    assert "1 new run, 0 updated by git fetch" in listed.stderr
    assert run_refs(other) == run_refs(shared)

    out = ok("uninstall", cwd=shared)
    assert out.count("removed; yours put back") == 1
    for name in mine:
        data, st = before[name]
        assert (hooks / name).read_bytes() == data
        now = os.stat(hooks / name)
        assert (now.st_mode, now.st_ino, now.st_mtime_ns) == (st.st_mode, st.st_ino, st.st_mtime_ns)
        assert not (hooks / f"{name}.gitexp-previous").exists()
    assert (shared / ".git" / "config").read_bytes() == config_before


OLD_REF_TX = """#!/bin/sh
# gitexp-hook: reference-transaction, version 2
while read -r _; do :; done
exit 0
"""


def test_install_removes_the_reference_transaction_hook_of_gitexp_0_2(shared: Path) -> None:
    """That hook cost a fetch of 1,000 runs four times plain git's time; install takes it
    out and puts back the user's hook it had moved aside; doctor points at install."""
    hooks = _hooks(shared)
    (hooks / "reference-transaction").write_text(OLD_REF_TX)
    os.chmod(hooks / "reference-transaction", 0o755)
    (hooks / "reference-transaction.gitexp-previous").write_text(USER_REF_TX)
    os.chmod(hooks / "reference-transaction.gitexp-previous", 0o700)
    doctor = json.loads(gitexp("doctor", "--json", cwd=shared).stdout)
    found = [c for c in doctor["checks"] if c["check"] == "hooks"]
    assert found[0]["status"] == "warn" and "reference-transaction" in found[0]["message"]
    out = ok("install", cwd=shared)
    assert "hook reference-transaction: removed; yours put back (no longer needed" in out
    assert (hooks / "reference-transaction").read_text() == USER_REF_TX
    assert not (hooks / "reference-transaction.gitexp-previous").exists()
    doctor = json.loads(gitexp("doctor", "--json", cwd=shared).stdout)
    assert [c["status"] for c in doctor["checks"] if c["check"] == "hooks"] == ["ok"]


def test_install_without_user_hooks_and_uninstall_leaves_nothing(shared: Path) -> None:
    hooks = _hooks(shared)
    listing = sorted(os.listdir(hooks))
    config_before = (shared / ".git" / "config").read_bytes()
    ok("install", cwd=shared)
    assert os.access(hooks / "pre-push", os.X_OK)
    ok("uninstall", cwd=shared)
    assert sorted(os.listdir(hooks)) == listing
    assert (shared / ".git" / "config").read_bytes() == config_before


def test_install_upgrades_gitexps_own_older_hook(shared: Path) -> None:
    hooks = _hooks(shared)
    (hooks / "pre-push").write_text("#!/bin/sh\n# gitexp-hook: pre-push, version 0\nexit 0\n")
    os.chmod(hooks / "pre-push", 0o755)
    out = ok("install", cwd=shared)
    assert "hook pre-push: upgraded" in out
    assert not (hooks / "pre-push.gitexp-previous").exists()
    assert "version 1" in (hooks / "pre-push").read_text()


def test_foreign_hook_and_leftover_previous_are_never_overwritten(shared: Path) -> None:
    hooks = _hooks(shared)
    (hooks / "pre-push").write_text(USER_PRE_PUSH)
    (hooks / "pre-push.gitexp-previous").write_text("#!/bin/sh\nexit 0\n")
    done = gitexp("install", cwd=shared)
    assert done.returncode == 6 and "merge the two" in done.stderr
    assert (hooks / "pre-push").read_text() == USER_PRE_PUSH


def test_dry_run_and_skip_push_no_runs(shared: Path, tmp_path: Path) -> None:
    ok("install", cwd=shared)
    ok("run", "--", PY, "-c", "print('hi')", cwd=shared)
    git(shared, "push", "--dry-run", "-q")
    assert _server_runs(tmp_path) == set()
    env = dict(os.environ, GITEXP_SKIP_HOOKS="1")
    subprocess.run(["git", "push", "-q"], cwd=shared, env=env, check=True)
    assert _server_runs(tmp_path) == set()
    git(shared, "push", "-q")
    assert _server_runs(tmp_path) == set(run_refs(shared))


def _synthesized_runs(repo: Path, count: int) -> None:
    """``count`` run refs, each a commit of its own on the repository's HEAD (as runs are)."""
    _synthesized_runs_from(repo, count, start=0)


def _synthesized_runs_from(repo: Path, count: int, start: int) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    lines = []
    for index in range(start, start + count):
        commit = git(repo, "commit-tree", "-p", base, "-m", f"run {index}", tree).strip()
        lines.append(f"create refs/gitexp/runs/run{index:04d}x {commit}\n")
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=repo, input="".join(lines), text=True, check=True
    )


def test_a_fetch_starts_no_gitexp_and_the_next_command_brings_every_run(
    shared: Path, tmp_path: Path
) -> None:
    """git would run a reference-transaction hook twice for every ref a fetch updates: no
    such hook is installed, so a fetch runs git alone, and the next gitexp command brings
    the mirrored runs in once (later ones find nothing new); many new runs are created
    in one git transaction (share/remotes.py, ``create_new_runs``)."""
    _synthesized_runs(shared, 70)
    git(shared, "push", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    other = clone(str(tmp_path / "server.git"), tmp_path / "other")
    ok("install", cwd=other)
    assert sorted(p.name for p in _hooks(other).iterdir() if not p.name.endswith(".sample")) == [
        "pre-push"
    ]
    git(other, "fetch", "-q")
    assert run_refs(other) == {}  # nothing of gitexp ran
    first = gitexp("ls", "-n", "1", cwd=other)
    assert "70 new runs, 0 updated by git fetch" in first.stderr, first.stderr
    assert run_refs(other) == run_refs(shared)
    reflog = other / ".git" / "logs" / "refs" / "gitexp" / "runs" / "run0042x"
    assert reflog.read_text().splitlines()[0].endswith("\tgitexp: fetched run")
    assert "new run" not in gitexp("ls", "-n", "1", cwd=other).stderr
    git(other, "fetch", "-q")  # nothing new: still nothing to say
    assert "new run" not in gitexp("ls", "-n", "1", cwd=other).stderr

    # A later fetch with more runs: only those are new.
    _synthesized_runs_from(shared, 3, start=100)
    git(shared, "push", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    git(other, "fetch", "-q")
    later = gitexp("ls", "-n", "1", cwd=other)
    assert "3 new runs, 0 updated by git fetch" in later.stderr, later.stderr
    assert run_refs(other) == run_refs(shared)


def test_a_run_deleted_here_is_not_brought_back_by_a_fetch_that_did_not_change_it(
    shared: Path, tmp_path: Path
) -> None:
    _synthesized_runs(shared, 2)
    git(shared, "push", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    other = clone(str(tmp_path / "server.git"), tmp_path / "other")
    ok("install", cwd=other)
    git(other, "fetch", "-q")
    ok("ls", cwd=other)
    git(other, "update-ref", "-d", "refs/gitexp/runs/run0000x")
    git(other, "fetch", "-q")
    ok("ls", cwd=other)
    assert set(run_refs(other)) == {"run0001x"}


def test_a_gitexp_command_right_after_a_fetch_sees_every_fetched_run(
    shared: Path, tmp_path: Path
) -> None:
    _synthesized_runs(shared, 40)
    git(shared, "push", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    other = clone(str(tmp_path / "server.git"), tmp_path / "other")
    ok("install", cwd=other)
    git(other, "fetch", "-q")
    done = gitexp("ls", "--json", "-n", "0", cwd=other)
    assert done.returncode == 0, done.stderr
    assert {row["id"] for row in json.loads(done.stdout)} == set(run_refs(shared))


def test_install_never_writes_into_a_tracked_hooks_folder(shared: Path) -> None:
    """core.hooksPath at a folder the team commits (.husky/): install refuses, changes
    nothing, and says how to share runs without hooks."""
    husky = shared / ".husky"
    husky.mkdir()
    (husky / "pre-commit").write_text("#!/bin/sh\nnpx lint-staged\n")
    git(shared, "add", ".husky")
    git(shared, "commit", "-q", "-m", "husky")
    git(shared, "config", "core.hooksPath", ".husky")
    done = gitexp("install", cwd=shared)
    assert done.returncode == 6, done.stderr
    assert "core.hooksPath points at .husky/, a folder git tracks" in done.stderr
    assert "gitexp push" in done.stderr
    assert sorted(p.name for p in husky.iterdir()) == ["pre-commit"]
    assert git(shared, "status", "--porcelain") == ""
