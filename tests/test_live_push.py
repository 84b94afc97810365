"""Live from anywhere: ``gitexp run --push`` sends a run while it trains, ``gitexp pull
--watch`` shows it arriving and moving, through a git daemon on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitexp, run_refs
from reliability_helpers import wait_for

SLOW_TRAIN = """\
import os, time, gitexp
run = gitexp.init()
step = 0
while not os.path.exists(os.environ["GO"]):  # trains until the test says so
    gitexp.log({"loss": 1.0 / (step + 1)})
    step += 1
    time.sleep(0.05)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    """A bare repository served by ``git daemon`` on loopback (pushes allowed); its URL."""
    base = tmp_path / "served"
    base.mkdir()
    git(base, "init", "-q", "--bare", "origin.git")
    port = _free_port()
    server = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
         f"--base-path={base}", "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, what="git daemon")
        yield f"git://127.0.0.1:{port}/origin.git"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _remote_runs(url: str, cwd: Path) -> dict[str, str]:
    out = git(cwd, "ls-remote", url, "refs/gitexp/runs/*")
    return {line.split()[1].rsplit("/", 1)[1]: line.split()[0] for line in out.splitlines()}


def _remote_status(url: str, cwd: Path, run_id: str) -> str:
    git(cwd, "fetch", "-q", url, f"+refs/gitexp/runs/{run_id}:refs/test/peek")
    return str(json.loads(git(cwd, "show", "refs/test/peek:.gitexp/run.json"))["status"])


class Lines:
    """The lines a process prints, collected by a thread (a test waits for one)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(
            target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True
        ).start()

    def having(self, *words: str) -> str | None:
        return next((line for line in self.lines if all(w in line for w in words)), None)


@pytest.mark.slow
def test_a_run_pushed_while_it_trains_is_watched_from_another_clone(
    repo: Path, tmp_path: Path, daemon: str
) -> None:
    (repo / "slow.py").write_text(SLOW_TRAIN)
    git(repo, "add", "slow.py")
    git(repo, "commit", "-q", "-m", "slow")
    git(repo, "push", "-q", daemon, "HEAD:main")
    go = tmp_path / "go"
    env = {**os.environ, "GO": str(go), "GITEXP_CHECKPOINT_SECONDS": "1"}
    training = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "run", "--push", daemon, "--every", "1s", "--",
         sys.executable, "slow.py"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watch: subprocess.Popen[str] | None = None
    try:
        (run_id,) = wait_for(lambda: _remote_runs(daemon, repo), what="the run on the remote")
        assert _remote_status(daemon, repo, run_id) == "running"

        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", daemon, str(clone))
        watch = subprocess.Popen(
            [sys.executable, "-m", "gitexp", "pull", "--watch", "--every", "1s", "--no-artifacts"],
            cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        lines = Lines(watch)
        wait_for(lambda: lines.having("new", run_id[:7], "running"), what="new, running")
        # A checkpoint later, the run has moved on the remote, and so here.
        wait_for(lambda: lines.having("updated", run_id[:7], "running", "loss="), what="moved")
        go.touch()
        assert training.wait(timeout=60) == 0
        wait_for(lambda: lines.having("updated", run_id[:7], "finished"), what="finished")
        watch.send_signal(signal.SIGINT)  # Ctrl-C ends the watch, without an error
        assert watch.wait(timeout=30) == 0
    finally:
        go.touch()
        training.wait(timeout=60)
        if watch is not None and watch.poll() is None:  # a failed wait above: never leak it
            watch.kill()
            watch.wait(timeout=30)
    _out, err = training.communicate()
    assert "warning" not in err, err
    assert _remote_status(daemon, repo, run_id) == "finished"
    # Every push was a fast-forward: the remote's commit is the local one.
    assert (
        _remote_runs(daemon, repo)[run_id]
        == git(repo, "rev-parse", f"refs/gitexp/runs/{run_id}").strip()
    )


TICKING = (
    "import time, gitexp\ngitexp.init()\nfor i in range(4): gitexp.log({'x': i}); time.sleep(.5)"
)


@pytest.mark.slow
def test_a_remote_that_does_not_answer_never_stops_training(repo: Path) -> None:
    nowhere = f"git://127.0.0.1:{_free_port()}/origin.git"  # nothing listens there
    done = gitexp(
        "run", "--push", nowhere, "--every", "1s", "--", sys.executable, "-c",
        TICKING,
        cwd=repo, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: could not push the run to") == 1  # once per streak
    assert "did not reach" in done.stderr and f"gitexp push {nowhere}" in done.stderr
    listed = json.loads(gitexp("ls", "--json", cwd=repo).stdout)
    assert [row["status"] for row in listed] == ["finished"]


def test_push_and_watch_options_are_checked_before_anything_runs(repo: Path) -> None:
    for args, words in (
        (("run", "--every", "5m", "--", "true"), "--every needs --push"),
        (("run", "--push", "origin", "--", "true"), "no git remote named 'origin'"),
        (("run", "--push", "/tmp/x", "--every", "0s", "--", "true"), "at least 1 second"),
        (("pull", "/tmp/x", "--every", "1m"), "--every needs --watch"),
        (("ui", "--every", "1m"), "--every needs --pull"),
        (("ui", "--pull", "origin"), "no git remote named 'origin' to pull runs from"),
        (("ui", "--pull", "/tmp/x", "--every", "soon"), "is not a duration"),
    ):
        done = gitexp(*args, cwd=repo)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr
    assert git(repo, "for-each-ref", "refs/gitexp/runs") == ""


# -- in-script runs: init(settings={"push": ...}), GITEXP_PUSH, git config gitexp.push -----

PUSHING_SCRIPT = """\
import os, time, gitexp
gitexp.init(settings=gitexp.Settings(push=os.environ["REMOTE"], push_every="1s"))
step = 0
while not os.path.exists(os.environ["GO"]):  # trains until the test says so
    gitexp.log({"loss": 1.0 / (step + 1)})
    step += 1
    time.sleep(0.05)
"""


def _eventually(predicate: Callable[[], object], what: str, timeout: float = 90) -> Any:
    """``predicate()``'s first true value, asked every 0.3 s (each asks git over the
    network: a tighter loop would crowd the training it watches)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _remote_steps(url: str, cwd: Path, run_id: str) -> tuple[str, int]:
    """The status and the number of logged rows of the remote's commit of a run."""
    status = _remote_status(url, cwd, run_id)  # fetched into refs/test/peek
    listed = git(cwd, "ls-tree", "--name-only", "refs/test/peek:.gitexp/history/", check=False)
    chunks = listed.split()  # none in the first commit
    rows = sum(
        len(git(cwd, "show", f"refs/test/peek:.gitexp/history/{chunk}").splitlines())
        for chunk in chunks
    )
    return status, rows


@pytest.mark.slow
def test_an_in_script_run_pushes_while_it_trains_when_a_setting_asks(
    repo: Path, tmp_path: Path, daemon: str
) -> None:
    (repo / "pushing.py").write_text(PUSHING_SCRIPT)
    go = tmp_path / "go"
    env = {**os.environ, "GO": str(go), "REMOTE": daemon, "GITEXP_CHECKPOINT_SECONDS": "1"}
    training = subprocess.Popen(
        [sys.executable, "pushing.py"], cwd=repo, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        (run_id,) = _eventually(lambda: _remote_runs(daemon, repo), "the run on the remote")
        status, rows = _eventually(
            lambda: (found := _remote_steps(daemon, repo, run_id))[1] > 0 and found,
            "logged steps on the remote",
        )
        assert status == "running" and training.poll() is None  # still training
        go.touch()
        assert training.wait(timeout=90) == 0
    finally:
        go.touch()
        training.wait(timeout=90)
    _out, err = training.communicate()
    assert "warning" not in err, err
    local = git(repo, "rev-parse", f"refs/gitexp/runs/{run_id}").strip()
    assert _remote_runs(daemon, repo)[run_id] == local  # the final commit, fast-forwarded
    status, final_rows = _remote_steps(daemon, repo, run_id)
    assert status == "finished" and final_rows > rows


@pytest.mark.slow
def test_environment_and_git_config_ask_for_the_push_and_a_bad_one_only_warns(
    repo: Path, tmp_path: Path, daemon: str
) -> None:
    script = "import gitexp\ngitexp.init()\ngitexp.log({'x': 1})\n"
    git(repo, "config", "gitexp.push", daemon)  # the default; the environment overrides
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120,
        env={**os.environ, "GITEXP_PUSH": "nowhere", "GITEXP_PUSH_EVERY": "60s"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "not pushing the run while it trains: GITEXP_PUSH: there is no git remote" in (
        done.stderr
    )
    assert _remote_runs(daemon, repo) == {}
    (first,) = run_refs(repo)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    (second,) = set(run_refs(repo)) - {first}
    assert list(_remote_runs(daemon, repo)) == [second]
    assert _remote_status(daemon, repo, second) == "finished"


def test_where_a_push_setting_comes_from(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.errors import UsageError
    from gitexp.git.repo import GitRepo
    from gitexp.share.livepush import configured

    git(repo, "remote", "add", "origin", "/nowhere/origin.git")
    git(repo, "remote", "add", "lab", "/nowhere/lab.git")
    with GitRepo.discover(str(repo)) as opened:
        assert configured(opened) is None
    git(repo, "config", "gitexp.push", "origin")
    git(repo, "config", "gitexp.pushEvery", "2m")
    with GitRepo.discover(str(repo)) as opened:
        assert configured(opened) == ("origin", 120.0)
    monkeypatch.setenv("GITEXP_PUSH", "lab")
    monkeypatch.setenv("GITEXP_PUSH_EVERY", "30")
    with GitRepo.discover(str(repo)) as opened:
        assert configured(opened) == ("lab", 30.0)
        assert configured(opened, "origin", 5) == ("origin", 5.0)  # init's settings first
        assert configured(opened, False) is None  # push=False: off, whatever is configured
        with pytest.raises(UsageError, match="settings push_every '0s' is not a duration"):
            configured(opened, "origin", "0s")
        with pytest.raises(UsageError, match="settings push: there is no git remote named"):
            configured(opened, "elsewhere")
    monkeypatch.setenv("GITEXP_PUSH_EVERY", "soon")
    with GitRepo.discover(str(repo)) as opened, pytest.raises(UsageError, match="GITEXP_PUSH_EV"):
        configured(opened)


# -- gitexp ui --pull: teammates' runs appear and grow in the dashboard ---------------------


@contextlib.contextmanager
def _dashboard(clone: Path, *options: str) -> Iterator[Callable[[str], Any]]:
    """``gitexp ui --port 0 OPTIONS`` in ``clone``; yields a reader of its JSON API."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gitexp", "ui", "--port", "0", *options],
        cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serving http://127.0.0.1:" in line, server.stderr.read() if server.stderr else ""
        url = line.split("serving ")[1].split()[0]

        def api(path: str) -> Any:
            with urllib.request.urlopen(url + path, timeout=30) as response:
                return json.load(response)

        yield api
        assert server.poll() is None  # nothing the pulling met stopped the server
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_ui_pulls_a_teammates_run_as_it_trains(repo: Path, tmp_path: Path, daemon: str) -> None:
    (repo / "slow.py").write_text(SLOW_TRAIN)
    git(repo, "add", "slow.py")
    git(repo, "commit", "-q", "-m", "slow")
    git(repo, "push", "-q", daemon, "HEAD:main")
    clone = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", daemon, str(clone))
    go = tmp_path / "go"
    env = {**os.environ, "GO": str(go), "GITEXP_CHECKPOINT_SECONDS": "1"}
    with _dashboard(clone, "--pull", "origin", "--every", "1s") as api:
        assert api("api/runs")["runs"] == []
        training = subprocess.Popen(
            [sys.executable, "-m", "gitexp", "run", "--push", daemon, "--every", "1s", "--",
             sys.executable, "slow.py"],
            cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            (run,) = _eventually(lambda: api("api/runs")["runs"], "the run in the ui")
            assert run["status"] == "running"

            def steps() -> int:
                series = api(f"api/bundle?runs={run['id']}")["series"][run["id"]]
                return max(series["loss"]["step"]) + 1 if "loss" in series else 0

            seen = _eventually(steps, "the run's steps in the ui")
            _eventually(lambda: steps() > seen, "more steps on a later poll")
            go.touch()
            assert training.wait(timeout=90) == 0
        finally:
            go.touch()
            training.wait(timeout=90)
        _eventually(lambda: api("api/runs")["runs"][0]["status"] == "finished", "the finished run")
        pulled = api("api/runs")["pull"]
        assert pulled["remote"] == "origin" and pulled["error"] is None
        assert pulled["last_pulled"] is not None


@pytest.mark.slow
def test_ui_says_on_the_page_when_pulling_fails_and_goes_on_serving(
    repo: Path, tmp_path: Path
) -> None:
    nowhere = f"git://127.0.0.1:{_free_port()}/origin.git"  # nothing listens there
    gitexp("run", "--", sys.executable, "-c", "print(1)", cwd=repo)
    with _dashboard(repo, "--pull", nowhere, "--every", "1s") as api:
        failed = _eventually(lambda: api("api/runs")["pull"]["error"], "the failure")
        assert "git fetch from" in failed
        assert len(api("api/runs")["runs"]) == 1  # the local runs are served all along


@pytest.mark.slow
def test_gitexp_run_reads_the_push_settings_and_a_script_under_it_is_told_to_use_them(
    repo: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "lab.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    done = gitexp(
        "run", "--", sys.executable, "-c", "print('trained')",
        cwd=repo, env={"GITEXP_PUSH": str(bare), "GITEXP_PUSH_EVERY": "1m"},
    )  # fmt: skip
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    (run_id,) = run_refs(repo)
    assert _remote_runs(str(bare), repo) == {run_id: run_refs(repo)[run_id]}
    script = "import gitexp\ngitexp.init(settings={'push': 'lab'})\n"
    done = gitexp("run", "--", sys.executable, "-c", script, cwd=repo, env={"GITEXP_PUSH": "lab"})
    assert done.returncode == 0, done.stderr  # an unknown configured remote only warns
    assert "not pushing the run while it trains: GITEXP_PUSH: there is no git remote" in (
        done.stderr
    )
    assert "settings push= is ignored" in done.stderr and "gitexp run --push" in done.stderr
    assert len(_remote_runs(str(bare), repo)) == 1
