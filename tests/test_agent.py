"""``gitexp agent``: machines that share only a git remote split a sweep's trials, each
trial claimed through the remote with a create-only push (a git daemon on loopback)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitexp, require
from reliability_helpers import wait_for
from sharing_servers import GitDaemon, clone, git_daemon_fixture

from gitexp.git.repo import GitRepo
from gitexp.share import claims

__all__ = ["git_daemon_fixture"]

TRAIN = """\
import os, time, gitexp
run = gitexp.init(config={"lr": 0, "b": 0})
time.sleep(0.2)
if run.config.lr == 2 and os.path.exists("broken"):  # a machine where lr=2 fails
    raise SystemExit(3)
gitexp.log({"loss": float(run.config.lr) * float(run.config.b)})
gitexp.finish()
"""


def _project(tmp_path: Path, daemon: GitDaemon, name: str) -> tuple[str, Path]:
    """A project pushed to a new bare repository on the daemon; its URL and first clone."""
    url = daemon.new_bare(name)
    first = tmp_path / f"{name}-a"
    first.mkdir()
    git(first, "init", "-q")
    (first / "train.py").write_text(TRAIN)
    git(first, "add", "-A")
    git(first, "commit", "-q", "-m", "initial")
    git(first, "remote", "add", "origin", url)
    git(first, "push", "-q", "-u", "origin", "main")
    return url, first


def _create(where: Path, group: str, *params: str) -> None:
    args = ["sweep", "--create", "--method", "grid", "--metric", "loss", "--group", group]
    for param in params:
        args += ["-p", param]
    done = gitexp(*args, "--", sys.executable, "train.py", cwd=where)
    assert done.returncode == 0, done.stderr
    assert f"gitexp agent {group}" in done.stderr


def _remote_refs(url: str, where: Path, pattern: str) -> dict[str, str]:
    out = git(where, "ls-remote", url, pattern)
    return {line.split("\t")[1]: line.split("\t")[0] for line in out.splitlines()}


def _agent(where: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitexp", "agent", *args],
        cwd=where,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_three_agents_run_every_combination_once(tmp_path: Path, git_daemon: GitDaemon) -> None:
    url, first = _project(tmp_path, git_daemon, "agents")
    _create(first, "grid6", "lr=1,2,3", "b=10,20")
    assert gitexp("push", "origin", cwd=first).returncode == 0  # the spec reaches the remote
    assert _remote_refs(url, first, "refs/gitexp/sweeps/*")
    others = [clone(url, tmp_path / "agents-b"), clone(url, tmp_path / "agents-c")]
    agents = [_agent(first, "grid6", "--remote", "origin")]
    agents += [_agent(where, "grid6", "--remote", "origin", "--yes") for where in others]
    outputs = [agent.communicate(timeout=240) for agent in agents]
    for agent, (_out, err) in zip(agents, outputs, strict=True):
        assert agent.returncode == 0, err
        assert "no trial left to claim" in err

    # Every trial was claimed by exactly one agent, and each claim is on the remote.
    claimed = [
        int(line.split("trial ")[1].split()[0])
        for _out, err in outputs
        for line in err.splitlines()
        if "agent: claimed trial" in line
    ]
    assert sorted(claimed) == list(range(6))
    remote_claims = _remote_refs(url, first, "refs/gitexp/claims/grid6/*")
    assert sorted(remote_claims) == [f"refs/gitexp/claims/grid6/{n}" for n in range(6)]

    # Each agent's runs are on the remote, as its clone recorded them.
    remote_runs = _remote_refs(url, first, "refs/gitexp/runs/*")
    assert len(remote_runs) == 6
    for where, (_out, err) in zip([first, *others], outputs, strict=True):
        mine = {line.rsplit(": ", 1)[1] for line in err.splitlines() if "claimed trial" in line}
        rows = json.loads(gitexp("ls", "--json", "--group", "grid6", cwd=where).stdout)
        for row in rows:
            if row["name"] in mine:
                ref = f"refs/gitexp/runs/{row['id']}"
                assert remote_runs[ref] == git(where, "rev-parse", ref).strip()

    # A fresh clone pulls all six: every combination exactly once, each from an agent.
    fresh = clone(url, tmp_path / "agents-fresh")
    assert gitexp("pull", "origin", cwd=fresh).returncode == 0
    listed = gitexp("ls", "--json", "--group", "grid6", cwd=fresh)
    rows = json.loads(listed.stdout)
    combos = sorted((row["config"]["lr"], row["config"]["b"]) for row in rows)
    assert combos == sorted((lr, b) for lr in (1, 2, 3) for b in (10, 20))
    assert sorted(row["name"] for row in rows) == [f"grid6-{n}" for n in range(6)]
    assert {row["status"] for row in rows} == {"finished"}
    run_id = rows[0]["id"]
    hardware = json.loads(git(fresh, "show", f"refs/gitexp/runs/{run_id}:.gitexp/hardware.json"))
    assert hardware["host"]["executor"]["name"] == "agent"
    assert hardware["host"]["executor"]["job_id"] == f"grid6/{rows[0]['name'].split('-')[-1]}"

    # An agent started once everything is done says so, and runs nothing.
    late = gitexp("agent", "grid6", "--remote", "origin", "--yes", cwd=others[0])
    assert late.returncode == 0, late.stderr
    assert "no trial left to claim" in late.stderr
    assert "claimed trial" not in late.stderr


def test_a_claim_is_taken_once_and_taken_over_by_its_commit(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "lease")
    second = clone(url, tmp_path / "lease-b")
    with GitRepo.discover(str(first)) as one, GitRepo.discover(str(second)) as two:
        won, why = claims.take(one, "origin", "s", 0, "s-0", None)
        assert won is not None and why is None
        lost, why = claims.take(two, "origin", "s", 0, "s-0", None)
        assert lost is None and why  # the ref exists: create-only refuses
        stale, why = claims.take(two, "origin", "s", 0, "s-0", b"0" * 40)
        assert stale is None and why  # a takeover must name the commit the ref holds
        taken, why = claims.take(two, "origin", "s", 0, "s-0", won)
        assert taken is not None and why is None
        assert not claims.release(one, "origin", "s", 0, won)  # no longer its claim
        assert claims.release(two, "origin", "s", 0, taken)
    assert _remote_refs(url, first, "refs/gitexp/claims/*") == {}


def _push_claim(where: Path, ref: str, content: str) -> str:
    """Push a commit holding ``claim.json`` with ``content`` to ``ref``, as a teammate's
    git would; its blob's id."""
    (where / "claim.json").write_text(content)
    blob = git(where, "hash-object", "-w", "claim.json").strip()
    tree = subprocess.run(
        ["git", "mktree"],
        cwd=where,
        input=f"100644 blob {blob}\tclaim.json\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = git(where, "commit-tree", tree, "-m", "claim").strip()
    git(where, "push", "-q", "origin", f"{commit}:{ref}")
    return blob


def _claim_body(sweep: str, trial: int, age: float, name: str | None = None) -> str:
    body = {"sweep": sweep, "trial": trial, "name": name or f"{sweep}-{trial}"}
    body.update({"host": "elsewhere", "pid": 4242, "time": time.time() - age})
    return json.dumps(body)


@pytest.mark.slow
def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_left(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "stale")
    _create(first, "st", "lr=1,2", "b=1")
    teammate = clone(url, tmp_path / "stale-t")
    _push_claim(teammate, "refs/gitexp/claims/st/0", _claim_body("st", 0, age=1))
    _push_claim(teammate, "refs/gitexp/claims/st/1", _claim_body("st", 1, age=3600))

    done = gitexp("agent", "st", "--remote", "origin", cwd=first, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "took over the stale claim of trial 1" in done.stderr
    assert "trial 0" not in done.stderr  # another agent holds it, and may still start it
    assert "no trial left to claim" in done.stderr
    time.sleep(1.2)
    done = gitexp("agent", "st", "--remote", "origin", "--stale-after", "1s", cwd=first)
    assert done.returncode == 0, done.stderr
    assert "took over the stale claim of trial 0" in done.stderr
    listed = json.loads(gitexp("ls", "--json", "--group", "st", cwd=first).stdout)
    assert sorted(row["name"] for row in listed) == ["st-0", "st-1"]


@pytest.mark.slow
def test_hostile_claims_do_not_stop_an_agent(tmp_path: Path, git_daemon: GitDaemon) -> None:
    url, first = _project(tmp_path, git_daemon, "hostile")
    _create(first, "two", "lr=1,2,3,4", "b=1")
    # A teammate pushes refs under the sweep's claims that are no claims: a name that is
    # no trial number, a huge claim.json, a ref pointing at a bare blob, a fresh claim
    # that names a run of another sweep, and one dated in the far future (either would
    # hold its trial forever).
    mallory = clone(url, tmp_path / "hostile-m")
    blob = _push_claim(mallory, "refs/gitexp/claims/two/0", json.dumps({"pad": "x" * 100_000}))
    _push_claim(mallory, "refs/gitexp/claims/two/not-a-number", _claim_body("two", 0, 0))
    git(mallory, "push", "-q", "origin", f"{blob}:refs/gitexp/claims/two/1")
    _push_claim(mallory, "refs/gitexp/claims/two/2", _claim_body("two", 2, 0, name="other-1"))
    _push_claim(mallory, "refs/gitexp/claims/two/3", _claim_body("two", 3, -(10.0**9)))
    assert gitexp("pull", "origin", cwd=first).returncode == 0  # mirrored, never a crash

    done = gitexp("agent", "two", "--remote", "origin", cwd=first, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "not-a-number" in done.stderr and "over 4096 bytes" in done.stderr
    assert "claim of trial 1 is not a claim" in done.stderr
    assert "took over the stale claim of trial 0" in done.stderr
    assert "took over the stale claim of trial 1" in done.stderr
    assert "claim of trial 2 names another run" in done.stderr
    assert "took over the stale claim of trial 2" in done.stderr
    assert "took over the stale claim of trial 3" in done.stderr
    assert "no trial left to claim" in done.stderr
    listed = json.loads(gitexp("ls", "--json", "--group", "two", cwd=first).stdout)
    assert sorted(row["name"] for row in listed) == ["two-0", "two-1", "two-2", "two-3"]


@pytest.mark.slow
def test_a_failed_trial_gives_its_claim_back_for_another_agent(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "flaky")
    _create(first, "fl", "lr=1,2", "b=1")
    (first / "broken").write_text("")
    done = gitexp("agent", "fl", "--remote", "origin", cwd=first, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "agent: trial 1 (fl-1) failed" in done.stderr
    assert "1 of 2 trials failed here: fl-1" in done.stderr
    assert "another agent may retry" in done.stderr
    assert sorted(_remote_refs(url, first, "refs/gitexp/claims/fl/*")) == [
        "refs/gitexp/claims/fl/0"
    ]

    other = clone(url, tmp_path / "flaky-b")
    done = gitexp("agent", "fl", "--remote", "origin", "--yes", cwd=other, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "agent: claimed trial 1 of sweep fl" in done.stderr
    listed = json.loads(gitexp("ls", "--json", "--group", "fl", cwd=other).stdout)
    assert sorted((row["name"], row["status"]) for row in listed) == [
        ("fl-0", "finished"),
        ("fl-1", "failed"),
        ("fl-1", "finished"),
    ]


def test_agent_needs_a_named_remote_and_a_known_sweep(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "bad")
    done = gitexp("agent", "nope", "--remote", url, cwd=first)
    assert done.returncode == 2 and "git remote add" in done.stderr
    done = gitexp("agent", "nope", "--remote", "origin", cwd=first)
    assert done.returncode == 5 and "no sweep matches" in done.stderr
    done = gitexp("agent", "nope", "--count", "0", cwd=first)
    assert done.returncode == 2


@pytest.mark.slow
def test_an_agent_runs_a_bayes_search_from_another_clone(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    require("optuna")
    url, first = _project(tmp_path, git_daemon, "bayes")
    args = ["sweep", "--create", "--method", "random", "--trials", "2", "--metric", "loss"]
    args += ["--group", "rnd", "-p", "lr=1,2,3,4", "-p", "b=1"]
    assert gitexp(*args, "--", sys.executable, "train.py", cwd=first).returncode == 0
    assert gitexp("push", "origin", cwd=first).returncode == 0
    other = clone(url, tmp_path / "bayes-b")
    refused = gitexp("agent", "rnd", "--remote", "origin", cwd=other)
    assert refused.returncode == 6 and "--yes" in refused.stderr  # a command from elsewhere
    done = gitexp("agent", "rnd", "--remote", "origin", "--yes", "--count", "1", cwd=other)
    assert done.returncode == 0, done.stderr
    assert "ran 1 of --count 1" in done.stderr
    done = gitexp("agent", "rnd", "--remote", "origin", cwd=first)
    assert done.returncode == 0, done.stderr
    assert "no trial left to claim" in done.stderr
    listed = json.loads(gitexp("ls", "--json", "--group", "rnd", cwd=first).stdout)
    assert sorted(row["name"] for row in listed) == ["rnd-0", "rnd-1"]


IN_SCRIPT = """\
import gitexp

def train():
    run = gitexp.init(config={"lr": 0, "b": 0})
    gitexp.log({"loss": float(run.config.lr) * float(run.config.b)})

gitexp.agent("ins", function=train, count=2)
"""


@pytest.mark.slow
def test_gitexp_agent_in_a_script_runs_its_function_per_trial(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "inscript")
    _create(first, "ins", "lr=1,2,3", "b=10")
    assert gitexp("push", "origin", cwd=first).returncode == 0
    other = clone(url, tmp_path / "inscript-b")
    for where in (first, other):
        (where / "agent_train.py").write_text(IN_SCRIPT)
        done = subprocess.run(
            [sys.executable, "agent_train.py"], cwd=where, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert "no trial left to claim" in done.stderr  # the second script ran the last one
    fresh = clone(url, tmp_path / "inscript-fresh")
    assert gitexp("pull", "origin", cwd=fresh).returncode == 0
    rows = json.loads(gitexp("ls", "--json", "--group", "ins", cwd=fresh).stdout)
    assert sorted((row["name"], row["config"]["lr"], row["status"]) for row in rows) == [
        ("ins-0", 1, "finished"),
        ("ins-1", 2, "finished"),
        ("ins-2", 3, "finished"),
    ]
    first_row = next(row for row in rows if row["name"] == "ins-0")
    shown = git(fresh, "show", f"refs/gitexp/runs/{first_row['id']}:.gitexp/hardware.json")
    assert json.loads(shown)["host"]["executor"]["job_id"] == "ins/0"


@pytest.mark.slow
def test_sigterm_stops_the_trial_and_gives_its_claim_back(
    tmp_path: Path, git_daemon: GitDaemon
) -> None:
    url, first = _project(tmp_path, git_daemon, "term")
    (first / "slow.py").write_text(
        "import time, gitexp\nrun = gitexp.init(config={'lr': 0})\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    args = ["sweep", "--create", "--method", "grid", "--metric", "loss", "--group", "tm"]
    done = gitexp(*args, "-p", "lr=1,2", "--", sys.executable, "slow.py", cwd=first)
    assert done.returncode == 0, done.stderr
    agent = _agent(first, "tm", "--remote", "origin")
    try:  # the trial runs once its run is on the remote (pushed as it starts)
        wait_for(lambda: _remote_refs(url, first, "refs/gitexp/runs/*"), 60, "the trial's run")
        assert _remote_refs(url, first, "refs/gitexp/claims/tm/*")
        agent.send_signal(signal.SIGTERM)
        _out, err = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 130, err
    assert _remote_refs(url, first, "refs/gitexp/claims/tm/*") == {}  # free for others
    rows = json.loads(gitexp("ls", "--json", "--group", "tm", cwd=first).stdout)
    assert [(row["name"], row["status"]) for row in rows] == [("tm-0", "interrupted")]
    (run_ref, sha), *_ = _remote_refs(url, first, "refs/gitexp/runs/*").items()
    assert git(first, "rev-parse", run_ref).strip() == sha  # its final commit was pushed
