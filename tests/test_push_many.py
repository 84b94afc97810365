"""`gitexp push` of many runs: one glob refspec rather than one refspec per run.

git matches each explicit refspec against every ref, so a push of 1,000 runs by exact
refspecs spends a second matching; a glob (`refs/gitexp/runs/*`) with negative refspecs
for the runs it must leave alone costs a tenth of that (docs/benchmarks.md, push_1000).
These tests pin what must not change with it: exact commits, no force, nothing but the
runs on the remote, no temporary refs anywhere, failures reported run by run, and
artifacts before refs. Real repositories, real bare remotes; `GIT_TRACE` shows which
refspecs git was given.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs

PY = sys.executable
GLOB = "refs/gitexp/runs/*:refs/gitexp/runs/*"
NEGATIVE_REFSPECS = (2, 29)


def _git_version() -> tuple[int, ...]:
    found = re.search(r"(\d+)\.(\d+)", git(".", "version"))
    assert found
    return tuple(int(part) for part in found.groups())


def _record(repo: Path, *names: str) -> list[str]:
    """Record one quick run per name; their ids, in order."""
    ids = []
    for name in names:
        before = set(run_refs(repo))
        done = gitexp("run", "--name", name, "--", "sh", "-c", "true", cwd=repo)
        assert done.returncode == 0, done.stderr
        (new,) = set(run_refs(repo)) - before
        ids.append(new)
    return ids


def _bare(tmp_path: Path, repo: Path, name: str = "remote.git") -> Path:
    remote = tmp_path / name
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), "HEAD:refs/heads/main")
    return remote


def _all_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def _push(
    repo: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`gitexp push --json ARGS`, and the `git push` command lines git traced."""
    trace = tmp_path / f"trace-{time.monotonic_ns()}.txt"
    done = gitexp("push", "--json", *args, cwd=repo, env={**(env or {}), "GIT_TRACE": str(trace)})
    lines = trace.read_text().splitlines() if trace.exists() else []
    pushes = [line.split("built-in: ", 1)[1] for line in lines if "built-in: git push " in line]
    return done, pushes


def _actions(done: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str, str | None]]:
    report = json.loads(done.stdout)
    return {run["id"]: (run["action"], run["name"], run["commit"]) for run in report["runs"]}


def test_many_runs_go_by_one_glob_and_nothing_else_moves(repo: Path, tmp_path: Path) -> None:
    ids = _record(repo, *(f"r{i}" for i in range(6)))
    remote = _bare(tmp_path, repo)
    git(repo, "remote", "add", "origin", str(remote))
    local = run_refs(repo)
    before = _all_refs(repo)

    done, pushes = _push(repo, tmp_path, "origin")

    assert done.returncode == 0, done.stderr
    actions = _actions(done)
    assert actions == {rid: ("new", f"r{i}", local[rid]) for i, rid in enumerate(ids)}
    assert len(pushes) == 1 and GLOB in pushes[0] and "^" not in pushes[0], pushes
    assert not re.search(r"[0-9a-f]{40}:", pushes[0])  # no exact refspec
    # The remote holds the branch and the runs at exactly these commits, nothing else.
    remote_refs = _all_refs(remote)
    assert remote_refs == {
        "refs/heads/main": before["refs/heads/main"],
        **{f"refs/gitexp/runs/{rid}": sha for rid, sha in local.items()},
    }
    # Here: the runs as they were, their mirrors, and no other ref (no temporary refs).
    mirrors = {f"refs/remotes/origin/gitexp/runs/{rid}": sha for rid, sha in local.items()}
    assert _all_refs(repo) == {**before, **mirrors}
    log = git(repo, "reflog", "show", f"refs/remotes/origin/gitexp/runs/{ids[0]}")
    assert "gitexp: pushed" in log

    again, _ = _push(repo, tmp_path, "origin")
    assert again.returncode == 0, again.stderr
    assert {action for action, _, _ in _actions(again).values()} == {"up to date"}


@pytest.mark.slow
@pytest.mark.skipif(_git_version() < NEGATIVE_REFSPECS, reason="git without negative refspecs")
def test_the_glob_leaves_out_behind_and_diverged_runs(repo: Path, tmp_path: Path) -> None:
    behind, diverged = _record(repo, "behind", "diverged")
    remote = _bare(tmp_path, repo)
    done = gitexp("push", str(remote), cwd=repo)
    assert done.returncode == 0, done.stderr
    first = run_refs(repo)
    # The remote gets newer commits of both runs; here `behind` stays back, `diverged`
    # gets a commit of its own on the older one.
    for rid in (behind, diverged):
        assert gitexp("tag", rid, "+there", cwd=repo).returncode == 0
    there = run_refs(repo)
    git(repo, "push", "-q", str(remote), GLOB)
    for rid in (behind, diverged):
        git(repo, "update-ref", f"refs/gitexp/runs/{rid}", first[rid])
    assert gitexp("tag", diverged, "+here", cwd=repo).returncode == 0
    new = _record(repo, *(f"n{i}" for i in range(5)))
    local = run_refs(repo)

    done, pushes = _push(repo, tmp_path, str(remote))

    assert done.returncode == 9, done.stderr
    actions = _actions(done)
    assert actions[behind][0] == "behind" and actions[diverged][0] == "diverged"
    assert {actions[rid][0] for rid in new} == {"new"}
    assert len(pushes) == 1 and GLOB in pushes[0], pushes
    assert f"^refs/gitexp/runs/{behind}" in pushes[0]
    assert f"^refs/gitexp/runs/{diverged}" in pushes[0]
    remote_runs = run_refs(remote)
    assert remote_runs == {
        behind: there[behind],
        diverged: there[diverged],
        **{rid: local[rid] for rid in new},
    }
    assert "diverged" in done.stdout
    assert run_refs(repo) == local  # nothing here moved or went


@pytest.mark.skipif(_git_version() < NEGATIVE_REFSPECS, reason="git without negative refspecs")
def test_a_run_still_going_is_pushed_by_its_exact_commit(repo: Path, tmp_path: Path) -> None:
    finished = _record(repo, *(f"f{i}" for i in range(5)))
    remote = _bare(tmp_path, repo)
    script = "import time; time.sleep(60)"
    going = subprocess.Popen(
        [PY, "-m", "gitexp", "run", "--name", "going", "--", PY, "-c", script],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(run_refs(repo)) < 6:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        (rid,) = set(run_refs(repo)) - set(finished)
        start = run_refs(repo)[rid]

        done, pushes = _push(repo, tmp_path, str(remote))

        assert done.returncode == 0, done.stderr
        assert _actions(done)[rid][:2] == ("new", "going")
        exact = f"{start}:refs/gitexp/runs/{rid}"
        assert [push for push in pushes if exact in push], pushes
        assert [push for push in pushes if GLOB in push and f"^refs/gitexp/runs/{rid}" in push]
        assert run_refs(remote)[rid] == start
    finally:
        going.terminate()
        going.wait(timeout=60)
    # Its final commit is a fast-forward of what was pushed.
    done, _ = _push(repo, tmp_path, str(remote))
    assert done.returncode == 0, done.stderr
    assert _actions(done)[rid][0] == "updated"
    assert run_refs(remote) == run_refs(repo)


def test_a_rejected_glob_push_is_reported_run_by_run(repo: Path, tmp_path: Path) -> None:
    _record(repo, *(f"r{i}" for i in range(6)))
    remote = _bare(tmp_path, repo)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refused by policy-5521' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = _all_refs(repo)

    done, pushes = _push(repo, tmp_path, str(remote))

    assert done.returncode == 9, done.stderr
    assert GLOB in pushes[0]
    assert "refused by policy-5521" in done.stderr
    for action, _, _ in _actions(done).values():
        assert action == "failed"
    report = json.loads(done.stdout)
    assert all("pre-receive hook declined" in run["error"] for run in report["runs"])
    assert run_refs(remote) == {}
    assert _all_refs(repo) == before  # no temporary refs, here or there
    assert set(_all_refs(remote)) == {"refs/heads/main"}


def test_a_run_moved_by_a_hook_during_the_push_arrives_as_checked(
    repo: Path, tmp_path: Path
) -> None:
    ids = _record(repo, *(f"r{i}" for i in range(6)))
    checked = run_refs(repo)
    assert gitexp("tag", ids[0], "+later", cwd=repo).returncode == 0
    later = run_refs(repo)[ids[0]]
    git(repo, "update-ref", f"refs/gitexp/runs/{ids[0]}", checked[ids[0]])
    remote = _bare(tmp_path, repo)
    # A user's pre-push hook moves a run while git pushes (as a run finishing would).
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\ngit update-ref refs/gitexp/runs/{ids[0]} {later}\n")
    hook.chmod(0o755)

    done, pushes = _push(repo, tmp_path, str(remote))

    assert done.returncode == 0, done.stderr
    assert GLOB in pushes[0]
    assert _actions(done)[ids[0]] == ("new", "r0", checked[ids[0]])
    assert run_refs(remote) == checked  # what git read, the commits checked
    assert run_refs(repo)[ids[0]] == later
    hook.unlink()
    done, _ = _push(repo, tmp_path, str(remote))
    assert done.returncode == 0, done.stderr
    assert _actions(done)[ids[0]][0] == "updated"
    assert run_refs(remote) == run_refs(repo)


def _dvc_project(repo: Path, store: Path) -> None:
    exe = os.path.join(os.path.dirname(PY), "dvc")
    subprocess.run([exe, "init", "-q"], cwd=repo, check=True, capture_output=True)
    subprocess.run(
        [exe, "remote", "add", "-d", "store", str(store)],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    git(repo, "add", ".dvc", ".dvcignore")
    git(repo, "commit", "-q", "-m", "DVC")


def _store_files(store: Path) -> set[str]:
    return {str(path.relative_to(store)) for path in store.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_artifacts_go_before_the_glob_and_a_late_commit_gets_them(
    repo: Path, tmp_path: Path
) -> None:
    """Many runs, one with artifacts: its files reach the DVC remote, then the glob pushes.

    Then the race the glob leaves: the remote got a run at a commit other than the one
    whose artifacts were checked (its ref moved between the read and git's); the push
    looks the run up on the remote and uploads that commit's artifacts too, or reports
    the run failed, saying how to recover, when the DVC remote cannot take them.
    """
    from gitexp.git import binary as gitbin
    from gitexp.git.repo import GitRepo
    from gitexp.share import push as pushing
    from gitexp.share.remotes import SyncReport

    store = tmp_path / "dvc-store"
    _dvc_project(repo, store)
    make = "mkdir -p out && echo weights-1 > out/model.pt"
    done = gitexp("run", "--name", "art", "--out", "out", "--", "sh", "-c", make, cwd=repo)
    assert done.returncode == 0, done.stderr
    (art,) = run_refs(repo)
    _record(repo, *(f"r{i}" for i in range(5)))
    remote = _bare(tmp_path, repo)

    done, pushes = _push(repo, tmp_path, str(remote))

    assert done.returncode == 0, done.stderr
    assert GLOB in pushes[0]
    assert _actions(done)[art][0] == "new"
    (art_report,) = [run for run in json.loads(done.stdout)["runs"] if run["id"] == art]
    assert art_report["artifact_objects"] >= 1
    uploaded = _store_files(store)
    assert uploaded
    assert run_refs(remote) == run_refs(repo)

    # A later commit of another run, with artifacts of its own, reaches the remote
    # behind gitexp's back; the settling step sees the remote's commit differs from the
    # one checked and uploads what that commit needs.
    make = "mkdir -p out && echo weights-2 > out/model.pt"
    done = gitexp("run", "--name", "art2", "--out", "out", "--", "sh", "-c", make, cwd=repo)
    assert done.returncode == 0, done.stderr
    (late,) = set(run_refs(repo)) - set(run_refs(remote))
    late_sha = run_refs(repo)[late]
    parent = git(repo, "rev-parse", f"{late_sha}^").strip()
    git(repo, "push", "-q", str(remote), f"refs/gitexp/runs/{late}")  # no artifacts
    with GitRepo.discover(str(repo)) as handle:
        report = SyncReport(str(remote))
        pusher = pushing._RefPusher(handle, str(remote), False, None, report, {}, None)
        plan = pushing._Plan({}, {late: parent.encode()}, [])
        ref = f"refs/gitexp/runs/{late}"
        carried = [gitbin.RefResult("*", ref, ref, "[new reference]")]
        settled = pusher._settle_glob(plan, carried)
    assert settled == {late: late_sha.encode()}
    (item,) = report.runs
    assert (item.id, item.name, item.action, item.commit) == (late, "art2", "new", late_sha)
    assert item.artifacts >= 1 and item.error is None
    assert _store_files(store) > uploaded

    # The same, with the DVC remote unreachable: reported as failed, with the way out.
    make = "mkdir -p out && echo weights-3 > out/model.pt"
    done = gitexp("run", "--name", "art3", "--out", "out", "--", "sh", "-c", make, cwd=repo)
    assert done.returncode == 0, done.stderr
    (stuck,) = set(run_refs(repo)) - set(run_refs(remote))
    git(repo, "push", "-q", str(remote), f"refs/gitexp/runs/{stuck}")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the DVC remote's folder should be\n")
    exe = os.path.join(os.path.dirname(PY), "dvc")
    subprocess.run(
        [exe, "remote", "modify", "store", "url", str(blocker / "dvc")], cwd=repo, check=True
    )
    with GitRepo.discover(str(repo)) as handle:
        report = SyncReport(str(remote))
        pusher = pushing._RefPusher(handle, str(remote), False, None, report, {}, None)
        ref = f"refs/gitexp/runs/{stuck}"
        parent = git(repo, "rev-parse", f"{ref}^").strip()
        plan = pushing._Plan({}, {stuck: parent.encode()}, [])
        pusher._settle_glob(plan, [gitbin.RefResult("*", ref, ref, "[new reference]")])
    (item,) = report.runs
    assert item.action == "failed" and item.commit == run_refs(repo)[stuck]
    assert item.error and "its ref moved during the push" in item.error
    assert f"git push {remote} :refs/gitexp/runs/{stuck}" in item.error


def _plumb(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_rows_and_artifacts_are_read_by_one_git(repo: Path) -> None:
    """Names, statuses and artifact lists of many commits: `git cat-file --batch`, each
    distinct tree's list read once; a commit without a row or a list reads as empty."""
    from gitexp.artifacts.pointers import parse_artifacts_json
    from gitexp.git import catfile
    from gitexp.git.repo import GitRepo
    from gitexp.share.remotes import RunCommit, read_artifacts, read_run_commits

    (rid,) = _record(repo, "plain")
    run = run_refs(repo)[rid]
    head = git(repo, "rev-parse", "HEAD").strip()
    listing = json.dumps(
        {
            "format": 1,
            "pointer": ".gitexp-artifacts.dvc",
            "artifacts": [
                {"path": "out", "kind": "output", "md5": "a" * 32 + ".dir", "size": 3, "nfiles": 1}
            ],
        }
    )

    def with_listing(text: str) -> str:
        blob = _plumb(repo, "hash-object", "-w", "--stdin", stdin=text)
        meta = _plumb(repo, "ls-tree", f"{run}:.gitexp") + f"\n100644 blob {blob}\tartifacts.json\n"
        meta_tree = _plumb(repo, "mktree", stdin=meta)
        top = [
            line
            for line in _plumb(repo, "ls-tree", run).splitlines()
            if not line.endswith("\t.gitexp")
        ]
        top.append(f"040000 tree {meta_tree}\t.gitexp")
        return _plumb(repo, "mktree", stdin="\n".join(top) + "\n")

    tree = with_listing(listing)
    message = _plumb(repo, "log", "-1", "--format=%B", run)
    one = _plumb(repo, "commit-tree", tree, "-p", run, stdin=message)
    two = _plumb(repo, "commit-tree", tree, "-p", one, stdin=message)  # the same tree
    damaged = _plumb(repo, "commit-tree", with_listing("{not json"), "-p", run, stdin=message)
    missing = "0" * 40

    found = catfile.read_objects(str(repo), [run, missing, f"{run}:.gitexp/run.json", f"{run}:x"])
    assert found[0] is not None and found[0][0] == "commit"
    assert found[1] is None and found[3] is None
    assert found[2] is not None and json.loads(found[2][1])["name"] == "plain"

    shas = [sha.encode() for sha in (run, head, one, two, damaged, missing)]
    with GitRepo.discover(str(repo)) as handle:
        commits = read_run_commits(handle, shas)
        with_listing_read = read_artifacts(handle, commits)
    assert commits[run.encode()].name == "plain" and commits[run.encode()].status == "finished"
    assert commits[one.encode()].tree == commits[two.encode()].tree == tree
    assert commits[head.encode()].row == {} and commits[head.encode()].name == ""
    assert commits[missing.encode()] == RunCommit({}, None)
    expected = parse_artifacts_json(listing)
    assert with_listing_read == {
        run.encode(): [],
        head.encode(): [],
        one.encode(): expected,
        two.encode(): expected,
        damaged.encode(): [],
        missing.encode(): [],
    }
