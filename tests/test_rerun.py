"""``gitexp rerun``: the same run again, isolated, with a verdict a CI job can assert on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs

from gitexp.reproduce.verdict import _close, is_timing

# loss depends on the config, an optional environment variable and an ignored input file;
# "epoch_time" and the declared "wall" change on every run (timing metrics).
SCRIPT = """\
import os, sys, time
import gitexp

run = gitexp.init(config={"lr": 0.1, "seed": 0})
run.define_metric("wall", timing=True)
if os.environ.get("FAIL_RERUN"):
    sys.exit(3)
if os.environ.get("SLEEP_RERUN"):
    time.sleep(60)
data = open("data/input.txt").read() if os.path.exists("data/input.txt") else ""
secret = open(".env").read() if os.path.exists(".env") else ""
noise = float(os.environ.get("NOISE", "0"))
for step in range(3):
    loss = 1.0 / (step + 1) + run.config.lr + run.config.seed + noise + len(data) + len(secret)
    gitexp.log({"loss": loss, "epoch_time": time.time(), "wall": time.perf_counter()})
gitexp.summary["best"] = "ok"
gitexp.finish()
"""


@pytest.fixture
def original(repo: Path) -> tuple[Path, str]:
    """A finished run of SCRIPT with an uncommitted edit and an ignored input."""
    (repo / "train.py").write_text(SCRIPT)
    (repo / "data").mkdir()
    (repo / "data" / "input.txt").write_text("abc")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("weights.bin\n")
    (repo / "weights.bin").write_bytes(b"\0weights")
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    return repo, run_id


def rerun(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = gitexp("rerun", *args, cwd=repo, env=env)
    return done.returncode, done.stdout, done.stderr


def test_a_deterministic_run_reruns_identical(original: tuple[Path, str]) -> None:
    repo, run_id = original
    (repo / "train.py").write_text("raise SystemExit('the work tree is not what reruns')\n")
    status = git(repo, "status", "--porcelain")
    code, out, err = rerun(repo, run_id[:7])
    assert code == 0, err
    assert "verdict: identical" in out
    assert "epoch_time" in out and "wall" in out  # left out as timing, and said so
    new_id = next(r for r in run_refs(repo) if r != run_id)
    info = json.loads(git(repo, "show", f"refs/gitexp/runs/{new_id}:.gitexp/run.json"))
    assert info["rerun_of"] == run_id
    old = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json"))
    assert info["baseline"] == old["baseline"]
    for ref in (run_id, new_id):  # the same snapshot: code trees equal outside .gitexp/
        assert "tree" in git(repo, "cat-file", "-t", f"refs/gitexp/runs/{ref}^{{tree}}")
    assert _code_tree(repo, run_id) == _code_tree(repo, new_id)
    # The user's work tree and HEAD are untouched; the isolated checkout is gone.
    assert git(repo, "status", "--porcelain") == status
    assert "the work tree is not what reruns" in (repo / "train.py").read_text()
    assert len(git(repo, "worktree", "list", "--porcelain").split("worktree ")) == 2
    assert os.listdir(repo / ".git" / "gitexp" / "rerun") == []


def _code_tree(repo: Path, run_id: str) -> str:
    listing = git(repo, "ls-tree", f"refs/gitexp/runs/{run_id}")
    return "\n".join(line for line in listing.splitlines() if not line.endswith("\t.gitexp"))


def test_an_environment_change_is_different_and_names_the_metric(
    original: tuple[Path, str],
) -> None:
    repo, run_id = original
    code, out, err = rerun(repo, run_id, env={"NOISE": "0.5"})
    assert code == 1, err
    assert "verdict: different" in out
    assert "loss" in out and "+0.5" in out


def test_a_seed_override_is_the_same_run_with_one_change(original: tuple[Path, str]) -> None:
    repo, run_id = original
    code, out, err = rerun(repo, run_id, "-p", "seed=1", "--json")
    assert code == 1, err
    verdict = json.loads(out)
    assert verdict["verdict"] == "different"
    assert verdict["differing"] == ["loss"]
    assert verdict["explain"]["config"]["changed"] == {"seed": [0, 1]}
    new_id = verdict["rerun"]["id"]
    assert "seed: 1" in git(repo, "show", f"refs/gitexp/runs/{new_id}:.gitexp/config.yaml")


@pytest.mark.slow
def test_tolerances(original: tuple[Path, str]) -> None:
    repo, run_id = original
    noise = {"NOISE": "1e-7"}  # loss is about 1.1 + 3 = 3.4; the delta is 1e-7
    assert rerun(repo, run_id, env=noise)[0] == 1
    code, out, _ = rerun(repo, run_id, "--atol", "1e-6", env=noise)
    assert code == 0 and "verdict: within tolerance" in out
    assert rerun(repo, run_id, "--rtol", "1e-7", env=noise)[0] == 0  # 1e-7 <= 1e-7 * 3.43
    assert rerun(repo, run_id, "--rtol", "1e-9", env=noise)[0] == 1
    assert rerun(repo, run_id, "--ignore-metric", "lo*", env=noise)[0] == 0


def test_timing_metrics_are_compared_only_when_asked(original: tuple[Path, str]) -> None:
    repo, run_id = original
    code, out, _ = rerun(repo, run_id, "--include-timing", "--json")
    assert code == 1
    differing = json.loads(out)["differing"]
    assert "epoch_time" in differing and "wall" in differing and "loss" not in differing


def test_a_failing_rerun_exits_8(original: tuple[Path, str]) -> None:
    repo, run_id = original
    code, out, _ = rerun(repo, run_id, env={"FAIL_RERUN": "1"})
    assert code == 8
    assert "the rerun failed" in out and "exit code 3" in out


def test_ignored_inputs_are_linked_and_their_change_is_reported(
    original: tuple[Path, str],
) -> None:
    repo, run_id = original
    recorded = json.loads(git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/inputs.json"))
    assert [f[0] for f in recorded["files"]] == ["data/input.txt", "weights.bin"]
    (repo / "data" / "input.txt").write_text("abcd")
    code, out, _ = rerun(repo, run_id)
    assert code == 1
    assert "input     data/input.txt: size 3 -> 4" in out
    assert (repo / "data" / "input.txt").read_text() == "abcd"  # read, never replaced


def test_secret_looking_files_left_out_of_the_snapshot_are_available(repo: Path) -> None:
    (repo / "train.py").write_text(SCRIPT)
    (repo / ".env").write_text("TOKEN=x\n")
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    code, out, err = rerun(repo, run_id)
    assert code == 0, out + err
    new_id = next(r for r in run_refs(repo) if r != run_id)
    assert _code_tree(repo, run_id) == _code_tree(repo, new_id)


def test_a_running_or_unknown_run_is_refused(repo: Path) -> None:
    assert rerun(repo, "nosuch")[0] == 5
    assert rerun(repo, "latest", "--rtol", "-1")[0] == 2


def test_record_in_one_clone_restore_and_rerun_in_another(
    original: tuple[Path, str], tmp_path: Path
) -> None:
    repo, run_id = original
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    (clone / "data").mkdir()
    (clone / "data" / "input.txt").write_text("abc")
    done = gitexp("restore", run_id[:7], cwd=clone)
    assert done.returncode == 0, done.stderr
    assert (clone / "train.py").read_text() == SCRIPT
    # Fetched, not recorded here: its command runs only with consent, shown first.
    code, out, err = rerun(clone, run_id[:7])
    assert code == 6 and "was not recorded in this clone" in err and "--yes" in err, err
    assert set(run_refs(clone)) == {run_id}  # nothing ran, nothing recorded
    code, out, err = rerun(clone, "--yes", run_id[:7])
    assert code == 0, out + err
    assert "verdict: identical" in out
    assert (
        "new modification time" in out
    )  # the same input bytes, written again: only the time differs


@pytest.mark.parametrize(
    ("key", "timing"),
    [
        ("_runtime", True),
        ("epoch_time", True),
        ("train/samples_per_second", True),
        ("tokens/sec", True),
        ("it/s", True),
        ("step_ms", True),
        ("throughput", True),
        ("loss", False),
        ("total_timesteps", False),
        ("ms_ssim", False),
        ("accuracy", False),
    ],
)
def test_timing_names(key: str, timing: bool) -> None:
    assert is_timing(key, {}) is timing


def test_declared_timing_wins_over_names() -> None:
    assert is_timing("gpu_util", {"gpu_*": {"timing": True}})
    assert not is_timing("epoch_time", {"epoch_time": {"timing": False}})


def test_closeness() -> None:
    assert _close(1.0, 1.0, 0, 0) == "same"
    assert _close(float("nan"), float("nan"), 0, 0) == "same"
    assert _close(1.0, 1.0 + 1e-9, 0, 1e-8) == "within"
    assert _close(100.0, 101.0, 0.01, 0) == "within"
    assert _close(100.0, 101.5, 0.01, 0) == "different"
    assert _close(float("inf"), 1e308, 1, 1) == "different"
    assert _close("a", "a", 0, 0) == "same" and _close(True, 1, 0, 0) == "different"
    assert _close([1.0, 2.0], [1.0, 2.0 + 1e-9], 0, 1e-6) == "within"


def test_rerun_from_a_linked_worktree_of_the_user(
    original: tuple[Path, str], tmp_path: Path
) -> None:
    repo, run_id = original
    mine = tmp_path / "my-worktree"
    git(repo, "worktree", "add", "-q", str(mine))
    (mine / "data").mkdir()
    (mine / "data" / "input.txt").write_text("abc")
    code, out, err = rerun(mine, run_id)
    assert code == 0, out + err
    worktrees = git(repo, "worktree", "list", "--porcelain").count("worktree ")
    assert worktrees == 2  # the main one and mine: the rerun's checkout is gone


def test_rerun_in_a_repository_without_commits(empty_repo: Path) -> None:
    """No baseline commit: the checkout is a linked worktree on an unborn branch, which
    git itself recognises while it exists, and which is gone afterwards."""
    (empty_repo / "train.py").write_text(SCRIPT)
    assert gitexp("run", "--", sys.executable, "train.py", cwd=empty_repo).returncode == 0
    code, out, err = rerun(empty_repo, "latest")
    assert code == 0, out + err
    assert "verdict: identical" in out
    assert git(empty_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (empty_repo / ".git" / "worktrees").exists() or not os.listdir(
        empty_repo / ".git" / "worktrees"
    )
    assert git(empty_repo, "for-each-ref", "refs/heads") == ""  # no branch was born


def _start_rerun(repo: Path, run_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLEEP_RERUN": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "rerun", run_id],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    checkouts = repo / ".git" / "gitexp" / "rerun"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = repo / ".git" / "gitexp" / "live"
        if checkouts.is_dir() and os.listdir(checkouts) and _command_started(live):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the rerun did not start")


def _command_started(live: Path) -> bool:
    """The rerun's command is running once its live owner.json names the child process."""
    for owner in live.glob("*/owner.json") if live.is_dir() else ():
        try:
            if "child_pid" in json.loads(owner.read_text()):
                return True
        except (OSError, ValueError):
            continue  # being written
    return False


def test_ctrl_c_and_kill_never_leave_a_checkout_behind(original: tuple[Path, str]) -> None:
    repo, run_id = original
    checkouts = repo / ".git" / "gitexp" / "rerun"
    proc = _start_rerun(repo, run_id)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert os.listdir(checkouts) == []

    killed = _start_rerun(repo, run_id)
    os.killpg(killed.pid, signal.SIGKILL)  # gitexp and the command, with no chance to clean up
    killed.wait(timeout=30)
    assert len(os.listdir(checkouts)) == 1
    code, out, err = rerun(repo, run_id)
    assert code == 0, out + err
    assert os.listdir(checkouts) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_ignored_roots_from_git_agree_with_the_walk(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git ls-files answers what the walk through dulwich's rules answers, but for an
    ignored folder holding tracked files (git names the ignored entries inside) and a
    folder whose every entry is ignored (git names the folder)."""
    from gitexp.git import binary as gitbin
    from gitexp.git.repo import GitRepo
    from gitexp.record import inputs

    for path, text in {
        "data/train.csv": "1,2\n",  # data/ is ignored (the fixture's .gitignore)
        "data/raw/a.bin": "x",
        "model.ckpt": "w",  # *.ckpt
        "src/deep/run.ckpt": "w",
        "logs/keep.txt": "k",
        "logs/debug.log": "d",
        "notes.txt": "untracked, not ignored",
        "scratch/tmp.txt": "t",  # .gitexpignore
        "vendored/x.py": "print()",
        "results/tracked.txt": "t",
        "results/out.bin": "o",
    }.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    (repo / ".gitignore").write_text("data/\n*.ckpt\nlogs/*\n!logs/keep.txt\nresults/\n")
    (repo / ".gitexpignore").write_text("scratch/\n")
    git(repo, "add", "-f", "results/tracked.txt")
    git(repo, "init", "-q", str(repo / "vendored"))  # a nested repository: never an input
    with GitRepo.discover(str(repo)) as opened:
        from_git = inputs.ignored_roots(opened)
        walked = inputs._walk_for_roots(opened)
        monkeypatch.setattr(gitbin, "ignored_untracked", lambda *args: lambda: None)
        assert inputs.ignored_roots(opened) == walked  # without git: the walk
    assert from_git == [
        "data", "logs/debug.log", "model.ckpt", "results/out.bin", "scratch", "src"
    ]  # fmt: skip
    # The walk agrees where git's rules are plain; dulwich also calls `logs/` ignored
    # for `logs/*` + `!logs/keep.txt`, where git (the reference) names logs/debug.log.
    assert {"data", "model.ckpt", "scratch"} <= set(walked)
    assert "logs/keep.txt" not in from_git


SENTINEL_SCRIPT = """\
import pathlib, sys
pathlib.Path(sys.argv[1]).write_text("ran")
"""


def test_a_pulled_run_is_rerun_only_with_consent(repo: Path, tmp_path: Path) -> None:
    """A teammate's run carries a command: rerun shows it exactly (command, folder,
    recording host and author) and runs it only when told; a run recorded in this clone
    needs no question.  Known from this clone's own reflog, never from the run's fields."""
    sentinel = tmp_path / "ran"
    (repo / "train.py").write_text(SENTINEL_SCRIPT)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "script")
    done = gitexp("run", "--", sys.executable, "train.py", str(sentinel), cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    sentinel.unlink()
    code, out, err = rerun(repo, run_id)  # recorded here: no question
    assert code == 0 and "was not recorded" not in err, err
    assert sentinel.exists()
    sentinel.unlink()

    git(tmp_path, "init", "-q", "--bare", "server.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "server.git"))
    git(repo, "push", "-q", "origin", "main")
    assert gitexp("push", cwd=repo).returncode == 0
    # The server's HEAD names a branch nobody pushed: the clone's own HEAD is unborn.
    git(tmp_path / "server.git", "symbolic-ref", "HEAD", "refs/heads/elsewhere")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tmp_path / "server.git"), str(clone))
    assert gitexp("pull", cwd=clone).returncode == 0
    code, out, err = rerun(clone, run_id)
    assert code == 6, err
    assert f"command   {sys.executable} train.py {sentinel}" in err
    assert "by Test User <test@example.invalid> (as the run claims)" in err
    assert not sentinel.exists() and len(run_refs(clone)) == 2  # the run and its rerun
    code, out, err = rerun(clone, "--yes", run_id)
    assert code == 0, out + err
    assert sentinel.exists()
