"""Sharing runs between machines: a real git server (git daemon, git://) and an
S3-compatible server (moto) as the DVC remote, both on 127.0.0.1.

Every clone stands for one machine; they share nothing but the two servers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs
from sharing_servers import (  # noqa: F401 - the *_fixture functions are fixtures
    GitDaemon,
    S3Server,
    clone,
    dvc,
    dvc_env_fixture,
    git_daemon_fixture,
    make_bucket,
    ok,
    s3_server_fixture,
    seed_project,
)

pytestmark = pytest.mark.integration

PY = sys.executable


def _s3_project(tmp_path: Path, daemon: GitDaemon, s3: S3Server, name: str) -> str:
    url = daemon.new_bare(name)
    make_bucket(s3, name)
    seed_project(tmp_path / "seed", url, f"s3://{name}/dvcstore", endpointurl=s3.endpoint)
    return url


def _s3_keys(s3: S3Server, bucket: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _remote_runs(url: str, cwd: Path) -> set[str]:
    out = git(cwd, "ls-remote", url, "refs/gitexp/runs/*")
    return {line.split("refs/gitexp/runs/")[1] for line in out.splitlines()}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.mark.slow
def test_two_machines_share_runs_and_artifacts(
    tmp_path: Path, git_daemon: GitDaemon, s3_server: S3Server
) -> None:
    url = _s3_project(tmp_path, git_daemon, s3_server, "team")
    a = clone(url, tmp_path / "A")
    b = clone(url, tmp_path / "B")
    large = {"GITEXP_MAX_FILE_SIZE": "4k"}
    ok("run", "--name", "a1", "--out", "outputs/model.bin", "--", PY, "train.py", "a1", cwd=a)
    ok("run", "--name", "a2", "--out", "outputs", "--", PY, "train.py", "a2", cwd=a)
    (b / "train.py").write_text((b / "train.py").read_text() + "# an uncommitted idea\n")
    (b / "notes.txt").write_text("untracked notes\n")
    (b / "data.bin").write_bytes(os.urandom(20_000))  # untracked and too large for git
    out = "outputs/model.bin"
    ok("run", "--name", "b1", "--out", out, "--", PY, "train.py", "b1", cwd=b, env=large)

    # Both machines push at the same time.
    with ThreadPoolExecutor(2) as pool:
        pushes = list(pool.map(lambda m: gitexp("push", "--json", cwd=m, timeout=120), (a, b)))
    for done in pushes:
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["ok"] and {r["action"] for r in report["runs"]} == {"new"}
    everyone = set(run_refs(a)) | set(run_refs(b))
    assert len(everyone) == 3
    assert _remote_runs(url, tmp_path) == everyone

    # A third machine fetches every run of both, and restores B's run exactly.
    c = clone(url, tmp_path / "C")
    report = json.loads(ok("pull", "--json", cwd=c))
    assert report["ok"]
    assert {r["id"] for r in report["runs"] if r["action"] == "new"} == everyone
    assert run_refs(c) == {**run_refs(a), **run_refs(b)}
    ok("restore", "b1", cwd=c)
    for path in ("train.py", "notes.txt", "data.bin", "outputs/model.bin", "outputs/shared.txt"):
        assert (c / path).read_bytes() == (b / path).read_bytes(), path

    # Identical content is stored once: one S3 object per distinct file or folder.
    keys = _s3_keys(s3_server, "team")
    contents = {_md5(a / "outputs" / "shared.txt"), _md5(b / "outputs" / "model.bin")}
    assert all(any(key.endswith(md5[2:]) for key in keys) for md5 in contents)
    assert len(keys) == len(set(keys))
    shared = [key for key in keys if key.endswith(_md5(a / "outputs" / "shared.txt")[2:])]
    assert len(shared) == 1  # logged by all three runs, uploaded once

    # After the restore, DVC alone can fetch the artifacts: the pointer file says what.
    for path in ("outputs", "data.bin", ".dvc/cache"):
        target = c / path
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    dvc(c, "pull")
    for path in ("data.bin", "outputs/model.bin", "outputs/shared.txt"):
        assert (c / path).read_bytes() == (b / path).read_bytes(), path
    # gitexp never edited the work trees: no .dvc files, no .gitignore changes.
    status = git(b, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [" M train.py", "?? data.bin", "?? notes.txt"]
    assert git(a, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.slow
def test_plain_git_push_and_fetch_move_runs_after_install(
    tmp_path: Path, git_daemon: GitDaemon, s3_server: S3Server
) -> None:
    url = _s3_project(tmp_path, git_daemon, s3_server, "plain")
    a = clone(url, tmp_path / "A")
    c = clone(url, tmp_path / "C")
    for machine in (a, c):
        ok("install", cwd=machine)
    ok("run", "--name", "first", "--out", "outputs", "--", PY, "train.py", "p1", cwd=a)
    (a / "change.txt").write_text("a commit to push\n")
    git(a, "add", "change.txt")
    git(a, "commit", "-q", "-m", "change")
    git(a, "push")  # the branch, as always; the runs and artifacts with it
    assert _remote_runs(url, tmp_path) == set(run_refs(a))
    assert any(key.endswith(".dir") for key in _s3_keys(s3_server, "plain"))

    # git fetch (and git pull) bring the runs: mirrored, then created locally.
    c_local = c / "local.txt"
    c_local.write_text("x\n")
    ok("run", "--name", "unpushed", "--", PY, "-c", "print(1)", cwd=c)
    unpushed = set(run_refs(c))
    git(c, "pull", "-q")
    ok("ls", cwd=c)  # a gitexp command right after the fetch sees the fetched runs
    assert set(run_refs(c)) == set(run_refs(a)) | unpushed
    assert (c / "change.txt").exists()
    (run_id,) = run_refs(a)
    assert git(c, "rev-parse", f"refs/remotes/origin/gitexp/runs/{run_id}").strip()

    # A run deleted on the server: --prune drops the mirror, never a local run.
    ok("rm", "--remote", "origin", run_id, cwd=a)
    assert _remote_runs(url, tmp_path) == set()
    git(c, "fetch", "--prune", "-q")
    assert git(c, "for-each-ref", "refs/remotes/origin/gitexp/runs").strip() == ""
    assert set(run_refs(c)) == {run_id} | unpushed


def test_install_keeps_branch_pushes_as_they_were(tmp_path: Path, git_daemon: GitDaemon) -> None:
    url = git_daemon.new_bare("branches")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    (seed / "a.txt").write_text("a\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "a")
    git(seed, "push", "-q", url, "main", "main:dev")

    def scenario(machine: Path, install: bool) -> dict[str, str]:
        """push.default=upstream, a branch whose upstream has another name; then simple."""
        if install:
            ok("install", cwd=machine)
            ok("run", "--", PY, "-c", "print(1)", cwd=machine)
        git(machine, "config", "push.default", "upstream")
        git(machine, "switch", "-q", "-c", "feature", "--track", "origin/dev")
        (machine / "f.txt").write_text(machine.name + "\n")
        git(machine, "add", "f.txt")
        git(machine, "commit", "-q", "-m", "f")
        git(machine, "push", "-q")  # feature -> dev, its upstream; nothing else
        git(machine, "config", "--unset", "push.default")  # simple: the same name only
        git(machine, "switch", "-q", "-c", f"topic-{machine.name}")
        git(machine, "push", "-q", "-u", "origin", f"topic-{machine.name}")
        (machine / "g.txt").write_text("g\n")
        git(machine, "add", "g.txt")
        git(machine, "commit", "-q", "-m", "g")
        git(machine, "push", "-q")
        heads = git(machine, "ls-remote", "--heads", url)
        return {ref: sha for sha, ref in (line.split("\t") for line in heads.splitlines())}

    plain = scenario(clone(url, tmp_path / "plain"), install=False)
    assert set(plain) == {"refs/heads/main", "refs/heads/dev", "refs/heads/topic-plain"}
    installed_clone = clone(url, tmp_path / "installed")
    installed = scenario(installed_clone, install=True)
    # The same branches moved the same way; no "feature" branch appeared on the server.
    assert set(installed) == {
        "refs/heads/main",
        "refs/heads/dev",
        "refs/heads/topic-plain",
        "refs/heads/topic-installed",
    }
    assert installed["refs/heads/dev"] == git(installed_clone, "rev-parse", "feature").strip()
    assert (
        installed["refs/heads/topic-installed"] == git(installed_clone, "rev-parse", "HEAD").strip()
    )
    assert installed["refs/heads/main"] == plain["refs/heads/main"]
    assert _remote_runs(url, tmp_path) == set(run_refs(installed_clone))


def test_diverged_run_is_reported_never_clobbered(tmp_path: Path, git_daemon: GitDaemon) -> None:
    url = git_daemon.new_bare("diverge")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    (seed / "t.py").write_text("print(1)\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "t")
    git(seed, "push", "-q", url, "main")
    a = clone(url, tmp_path / "A")
    c = clone(url, tmp_path / "C")
    ok("run", "--name", "shared-run", "--", PY, "t.py", cwd=a)
    ok("push", cwd=a)
    ok("pull", cwd=c)
    ok("tag", "shared-run", "+from-a", cwd=a)
    ok("tag", "shared-run", "+from-c", cwd=c)
    ok("push", cwd=a)
    mine = run_refs(c)
    done = gitexp("pull", cwd=c)
    assert done.returncode == 9, done.stderr
    assert "diverged" in done.stdout
    assert run_refs(c) == mine  # kept
    (run_id,) = mine
    assert (
        git(c, "rev-parse", f"refs/remotes/origin/gitexp/runs/{run_id}").strip()
        == (run_refs(a)[run_id])
    )
    done = gitexp("push", cwd=c)
    assert done.returncode == 9 and "diverged" in done.stdout
    assert _remote_runs(url, tmp_path) == {run_id}
    assert (
        git(tmp_path, "ls-remote", url, f"refs/gitexp/runs/{run_id}").split()[0]
        == (run_refs(a)[run_id])
    )


@pytest.mark.slow
def test_push_refuses_a_run_whose_artifacts_cannot_be_uploaded(
    tmp_path: Path, git_daemon: GitDaemon, s3_server: S3Server
) -> None:
    url = git_daemon.new_bare("broken")
    seed_project(tmp_path / "seed", url, "s3://no-such-bucket/x", endpointurl=s3_server.endpoint)
    a = clone(url, tmp_path / "A")
    ok("run", "--out", "outputs", "--", PY, "train.py", cwd=a)
    done = gitexp("push", cwd=a, timeout=120)
    assert done.returncode == 9, done.stderr
    assert "failed" in done.stdout and "not uploaded" in done.stdout
    assert _remote_runs(url, tmp_path) == set()  # the ref never arrived without its files
    ok("install", cwd=a)
    refused = subprocess.run(["git", "push"], cwd=a, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "push refused" in refused.stderr and "GITEXP_SKIP_HOOKS=1" in refused.stderr
    assert _remote_runs(url, tmp_path) == set()


def test_pull_selected_runs_by_prefix_and_name(tmp_path: Path, git_daemon: GitDaemon) -> None:
    url = git_daemon.new_bare("select")
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    (seed / "t.py").write_text("print(1)\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "t")
    git(seed, "push", "-q", url, "main")
    a = clone(url, tmp_path / "A")
    ok("run", "--name", "one", "--", PY, "t.py", cwd=a)
    ok("run", "--name", "two", "--", PY, "t.py", cwd=a)
    ok("push", "origin", "one", cwd=a)
    assert len(_remote_runs(url, tmp_path)) == 1
    ok("push", cwd=a)
    c = clone(url, tmp_path / "C")
    ids = {name: rid for rid, name in _names(a).items()}
    ok("pull", url, ids["two"][:5], cwd=c)  # a URL: no mirror namespace is left behind
    assert set(run_refs(c)) == {ids["two"]}
    assert git(c, "for-each-ref", "refs/gitexp/incoming", "refs/remotes").count("gitexp") == 0


def _names(repo: Path) -> dict[str, str]:
    out = json.loads(ok("ls", "--json", "--all", cwd=repo))
    return {row["id"]: row["name"] for row in out}
