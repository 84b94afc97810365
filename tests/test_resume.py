"""Resuming runs: a crashed (SIGKILLed) run goes on under its id, as a fast-forward."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from conftest import git, gitexp, run_refs

PREFIX = "refs/gitexp/runs/"

# Logs steps from where the run stands; crashes after step CRASH_AT by SIGKILLing
# itself and, with "wrapped", the `gitexp run` above it too (a preempted node).
TRAIN = """\
import json, os, signal, sys, time
import gitexp

def wait_until_live(run, step):  # rows reach the live folder every 0.5 s: wait for this one
    path = os.path.join(".git", "gitexp", "live", run.id, "history.jsonl")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(path) as rows:
                if any(json.loads(row).get("_step") == step for row in rows if row.strip()):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
run = gitexp.init(config={"lr": 0.1}, **({"id": sys.argv[2], "resume": "allow"}
                                        if len(sys.argv) > 2 else {}))
print("START", run.step, run.resumed, flush=True)
for step in range(run.step, 8):
    gitexp.log({"loss": 1.0 / (step + 1), "life": int(os.environ["LIFE"])})
    if step == int(os.environ.get("CRASH_AT", -1)):
        wait_until_live(run, step)
        if sys.argv[1] == "wrapped":  # gitexp run dies, and its keeper (our parent) too
            keeper = os.getppid()
            with open(f"/proc/{keeper}/stat") as stat:
                wrapper = int(stat.read().rsplit(")", 1)[1].split()[1])
            os.kill(wrapper, signal.SIGKILL)
            os.kill(keeper, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
gitexp.finish()
"""


def _env(life: int, crash_at: int | None = None) -> dict[str, str]:
    env = {**os.environ, "LIFE": str(life)}
    if crash_at is not None:
        env["CRASH_AT"] = str(crash_at)
    return env


def _meta(repo: Path, ref: str, name: str) -> Any:
    return json.loads(git(repo, "show", f"{ref}:.gitexp/{name}"))


def _history(repo: Path, ref: str) -> list[dict[str, Any]]:
    data = subprocess.run(
        ["git", "archive", ref, ".gitexp/history"], cwd=repo, capture_output=True, check=True
    ).stdout
    rows = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                rows += [json.loads(line) for line in handle.read().splitlines() if line]
    return rows


def _workspace_tree(repo: Path, commit: str) -> set[str]:
    entries = git(repo, "ls-tree", commit).splitlines()
    return {line for line in entries if not line.endswith("\t.gitexp")}


def _is_ancestor(repo: Path, old: str, new: str) -> bool:
    done = subprocess.run(["git", "merge-base", "--is-ancestor", old, new], cwd=repo)
    return done.returncode == 0


def _check_continued(
    repo: Path, run_id: str, crashed_commit: str, lives: list[int]
) -> dict[str, Any]:
    ref = PREFIX + run_id
    head = run_refs(repo)[run_id]
    assert _is_ancestor(repo, crashed_commit, head)  # a fast-forward of the crashed run
    rows = _history(repo, ref)
    assert [row["_step"] for row in rows] == list(range(8))  # no gap, no duplicate
    assert [row["life"] for row in rows] == lives
    info: dict[str, Any] = _meta(repo, ref, "run.json")
    assert info["id"] == run_id and info["status"] == "finished"
    starts = [i for i in range(1, 8) if lives[i] != lives[i - 1]]
    assert [r["from_step"] for r in info["resumes"]] == starts
    assert _workspace_tree(repo, head) == _workspace_tree(repo, crashed_commit)
    metrics = _meta(repo, ref, "metrics.json")
    assert metrics["steps"] == 8 and metrics["metrics"]["loss"]["max"] == 1.0
    assert metrics["metrics"]["life"]["count"] == 8
    log = git(repo, "show", f"{ref}:.gitexp/output.log")
    assert "START 0 False" in log and "resumed at" in log
    assert all(f"START {step} True" in log for step in starts)
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo).returncode == 0
    return info


def test_crashed_run_resumes_with_gitexp_run_resume(repo: Path) -> None:
    (repo / "resumable.py").write_text(TRAIN)
    first = gitexp("run", "--", sys.executable, "resumable.py", "wrapped", cwd=repo, env=_env(1, 4))
    assert first.returncode == -9, first.stderr  # gitexp run itself was SIGKILLed
    [run_id] = run_refs(repo)
    # The next command finalizes the crashed run from its live folder.
    listed = json.loads(gitexp("ls", "--json", cwd=repo).stdout)
    assert listed[0]["status"] == "crashed"
    crashed = run_refs(repo)[run_id]
    assert [row["_step"] for row in _history(repo, PREFIX + run_id)] == list(range(5))

    done = gitexp(
        *("run", "--resume", run_id[:7], "--", sys.executable, "resumable.py", "wrapped"),
        cwd=repo,
        env=_env(2),
    )
    assert done.returncode == 0, done.stderr
    assert "resuming run" in done.stderr and "at step 5" in done.stderr
    assert "START 5 True" in done.stdout
    info = _check_continued(repo, run_id, crashed, [1] * 5 + [2] * 3)
    assert info["resumes"][0]["code_changed"] is False
    assert info["resumes"][0]["snapshot"] is None
    messages = git(repo, "log", "--format=%s", PREFIX + run_id).splitlines()
    assert any("resumed (running)" in m for m in messages)
    assert list(run_refs(repo)) == [run_id]  # no second run

    # Resuming a run that is not there, or renaming while resuming, changes nothing.
    before = run_refs(repo)
    assert gitexp("run", "--resume", "nosuchrun", "--", "true", cwd=repo).returncode == 5
    bad = gitexp("run", "--resume", run_id, "--name", "x", "--", "true", cwd=repo)
    assert bad.returncode == 2
    assert run_refs(repo) == before


def test_direct_script_resumes_with_init_id_and_resume_allow(repo: Path) -> None:
    (repo / "resumable.py").write_text(TRAIN)
    script = [sys.executable, "resumable.py", "direct", "job-42"]
    first = subprocess.run(script, cwd=repo, capture_output=True, text=True, env=_env(1, 4))
    assert first.returncode == -9
    assert list(run_refs(repo)) == ["job-42"]  # created with the id it was given
    crashed_before_recovery = run_refs(repo)["job-42"]

    (repo / "resumable.py").write_text(TRAIN + "# an edit after the crash\n")
    # Resumed, then preempted again: the recovery of a resumed run keeps every row.
    again = subprocess.run(script, cwd=repo, capture_output=True, text=True, env=_env(2, 6))
    assert again.returncode == -9
    assert "START 5 True" in again.stdout
    done = subprocess.run(script, cwd=repo, capture_output=True, text=True, env=_env(3))
    assert done.returncode == 0, done.stderr
    assert "START 7 True" in done.stdout
    info = _check_continued(repo, "job-42", crashed_before_recovery, [1] * 5 + [2] * 2 + [3])
    statuses = git(repo, "log", "--format=%s", PREFIX + "job-42").splitlines()
    assert sum("crashed (crashed)" in s for s in statuses) == 2  # finalized before resuming
    assert sum("resumed (running)" in s for s in statuses) == 2
    resumed = info["resumes"][0]
    assert resumed["code_changed"] is True and info["resumes"][1]["code_changed"] is True
    # The changed code is kept (reachable) under .gitexp/resumes/1; the run's tree is the
    # original snapshot.
    kept = git(repo, "rev-parse", f"{PREFIX}job-42:.gitexp/resumes/1").strip()
    assert kept == resumed["snapshot"]
    kept = git(repo, "rev-parse", f"{PREFIX}job-42:.gitexp/resumes/2").strip()
    assert kept == info["resumes"][1]["snapshot"]
    edited = git(repo, "show", f"{PREFIX}job-42:.gitexp/resumes/1/resumable.py")
    assert edited.endswith("# an edit after the crash\n")
    assert git(repo, "show", f"{PREFIX}job-42:resumable.py") == TRAIN


MODES = """\
import sys, gitexp
kind = sys.argv[1]
try:
    if kind == "must":
        gitexp.init(id="missing-run", resume="must")
    elif kind == "never":
        gitexp.init(id=sys.argv[2], resume="never")
    elif kind == "bad-id":
        gitexp.init(id="no/slashes", resume="allow")
    elif kind == "int-id":
        gitexp.init(id=42)
    elif kind == "bad-mode":
        gitexp.init(id="x1", resume="sometimes")
except Exception as exc:
    print("ERROR", type(exc).__name__, exc)
    sys.exit(0)
print("NO ERROR")
"""


def test_resume_modes_are_clear_errors(repo: Path) -> None:
    (repo / "modes.py").write_text(MODES)
    (repo / "once.py").write_text("import gitexp\ngitexp.init(id='taken-id')\ngitexp.finish()\n")
    assert subprocess.run([sys.executable, "once.py"], cwd=repo).returncode == 0
    before = run_refs(repo)
    for kind, expected in (
        ("must", "UnknownRunError"),
        ("never", "RepositoryStateError"),
        ("bad-id", "ValueError"),
        ("int-id", "ValueError"),
        ("bad-mode", "ValueError"),
    ):
        done = subprocess.run(
            [sys.executable, "modes.py", kind, "taken-id"], cwd=repo, capture_output=True, text=True
        )
        assert f"ERROR {expected}" in done.stdout, (kind, done.stdout, done.stderr)
    assert run_refs(repo) == before
