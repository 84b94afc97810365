"""``gitexp doctor``: each problem is found, reported with its fix, and the exit code says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conftest import git, gitexp, run_refs
from sharing_servers import dvc_setup


def _doctor(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = gitexp("doctor", "--json", *extra, cwd=cwd, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["exit_code"] == done.returncode
    return done.returncode, report["checks"]


def _by_name(checks: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = [c for c in checks if c["check"] == name]
    assert found, f"no {name} check in {checks}"
    return found


def test_fresh_repository_warns_with_fixes_and_exits_0(empty_repo: Path) -> None:
    done = gitexp("doctor", cwd=empty_repo)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok") and "git 2." in lines[0] and "2.31 or later" in lines[0]
    assert any(line.startswith("warn") and "commits" in line for line in lines)
    assert 'fix: git add -A && git commit -m "First commit"' in done.stdout
    assert "fix: dvc init" in done.stdout
    assert "fix: git remote add origin URL" in done.stdout
    assert not any(line.startswith("fail") for line in lines)
    assert done.stderr == ""  # warnings are not errors


def test_a_committed_repository_with_dvc_and_a_remote_is_all_ok(repo: Path, tmp_path: Path) -> None:
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    code, checks = _doctor(repo)
    assert code == 0
    bad = [c for c in checks if c["status"] != "ok"]
    assert bad == []
    (default,) = [c for c in _by_name(checks, "dvc remote")]
    assert "store" in default["message"] and "default" in default["message"]


def test_outside_a_repository_and_in_a_bare_one_exit_3_with_the_fix(tmp_path: Path) -> None:
    outside = tmp_path / "nowhere"
    outside.mkdir()
    code, checks = _doctor(outside)
    assert code == 3
    (tree,) = _by_name(checks, "work tree")
    assert tree["status"] == "fail" and tree["fix"][0].startswith("git init")
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    code, checks = _doctor(tmp_path / "bare.git")
    assert code == 3
    (tree,) = _by_name(checks, "work tree")
    assert "bare" in tree["message"] and tree["fix"][0].startswith("git clone ")
    done = gitexp("doctor", cwd=tmp_path / "bare.git")  # the text form too: no traceback
    assert done.returncode == 3 and "fail" in done.stdout and "Traceback" not in done.stderr
    assert done.stderr.startswith("gitexp: error: 1 check failed: work tree")


def test_a_remote_folder_that_does_not_exist_fails_with_exit_6(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "lab", str(tmp_path / "missing.git"))
    git(repo, "remote", "add", "origin", "git@example.invalid:me/project.git")
    code, checks = _doctor(repo)
    assert code == 6
    (lab,) = _by_name(checks, "remote lab")
    assert lab["status"] == "fail" and lab["fix"][0] == f"git init --bare {tmp_path}/missing.git"
    (origin,) = _by_name(checks, "remote origin")
    assert origin["status"] == "ok" and "not contacted" in origin["message"]


def test_missing_identity_is_a_warning_naming_both_settings(repo: Path, tmp_path: Path) -> None:
    bare_config = tmp_path / "empty.gitconfig"
    bare_config.write_text("")
    code, checks = _doctor(repo, env={"GIT_CONFIG_GLOBAL": str(bare_config)})
    assert code == 0
    (identity,) = _by_name(checks, "identity")
    assert identity["status"] == "warn"
    assert identity["fix"] == [
        'git config --global user.name "Your Name"',
        "git config --global user.email you@example.com",
    ]


def test_a_remote_needing_a_missing_storage_plugin_fails_with_the_install_command(
    repo: Path,
) -> None:
    # dvc-gs is not among the test dependencies (dvc-s3 is), so gs:// lacks its plugin.
    dvc_setup(repo, "gs://bucket/path")
    code, checks = _doctor(repo)
    assert code == 6
    failed = [c for c in _by_name(checks, "dvc remote") if c["status"] == "fail"]
    assert failed and failed[0]["fix"] == ["pip install 'gitexp[gs]'"]


def test_hooks_installed_then_outdated_then_reinstalled(repo: Path, tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    assert gitexp("install", cwd=repo).returncode == 0
    _code, checks = _doctor(repo)
    (hooks,) = _by_name(checks, "hooks")
    assert hooks["status"] == "ok" and "current" in hooks["message"]
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(hook.read_text() + "# an older gitexp wrote this\n")
    git(repo, "remote", "add", "lab", str(tmp_path / "origin.git"))
    code, checks = _doctor(repo)
    assert code == 0  # warnings only
    (hooks,) = _by_name(checks, "hooks")
    assert hooks["status"] == "warn" and hooks["fix"] == ["gitexp install"]
    assert gitexp("install", cwd=repo).returncode == 0
    _code, checks = _doctor(repo)
    statuses = [(c["status"], c["fix"]) for c in _by_name(checks, "hooks")]
    assert statuses == [("ok", []), ("warn", ["gitexp install --remote lab"])]


def test_a_crashed_run_is_reported_not_finalized(repo: Path) -> None:
    crash = (
        "import os, signal\n"
        "keeper = os.getppid()\n"  # the command's parent, a child of gitexp run
        "stat = open(f'/proc/{keeper}/stat').read()\n"
        "os.kill(int(stat.rsplit(')', 1)[1].split()[1]), signal.SIGKILL)\n"  # gitexp run
        "os.kill(keeper, signal.SIGKILL)\n"  # and its keeper die: nobody finalizes
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = gitexp("run", "--", sys.executable, "-c", crash, cwd=repo)
    assert done.returncode == -9
    (run_id,) = run_refs(repo)
    _code, checks = _doctor(repo)
    (runs,) = _by_name(checks, "runs")
    assert runs["status"] == "warn" and run_id in runs["message"]
    ref = f"refs/gitexp/runs/{run_id}"
    assert "(running)" in git(repo, "log", "-1", "--format=%s", ref)  # doctor changed nothing
    assert gitexp("ls", cwd=repo).returncode == 0  # the fix it printed
    _code, checks = _doctor(repo)
    (runs,) = _by_name(checks, "runs")
    assert runs["status"] == "ok"
    assert "(crashed)" in git(repo, "log", "-1", "--format=%s", ref)
