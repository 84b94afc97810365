"""``gitexp.save`` and ``gitexp.alert`` (issue 18, part 4), in real scripts.

Saved small text goes into the run's tree under ``.gitexp/files/``, a large binary into
DVC's cache as a file of the run's ``run-<id>-files`` artifact; alerts are recorded in
``.gitexp/alerts.jsonl``, printed, and forwarded to ``gitexp.alertCommand`` through
environment variables and arguments, never a shell.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp
from sharing_servers import dvc_env_fixture, dvc_setup  # noqa: F401 - fixture

PY = sys.executable

SAVE = """\
import os, gitexp
run = gitexp.init()
os.makedirs("data/sub", exist_ok=True)
def write(path, text):
    with open(path, "w") as f:
        f.write(text)
write("data/notes.txt", "first\\n")
write("data/now.txt", "at the call\\n")
write("data/end.txt", "early\\n")
write("data/sub/deep.txt", "deep\\n")
with open("data/big.bin", "wb") as f:
    f.write(b"\\0" * 1_500_000)
print("NAMES", gitexp.save("data/notes.txt"))
gitexp.save("data/now.txt", base_path="data", policy="now")
gitexp.save("data/end*.txt", base_path="data", policy="end")
gitexp.save("data/sub/*.txt", base_path="data/sub", policy="now")
gitexp.save("data/big.bin", base_path="data")
write("data/notes.txt", "second\\n")
write("data/now.txt", "changed later\\n")
write("data/end.txt", "late\\n")
write("data/end2.txt", "created later\\n")
print("RUN " + run.id)
gitexp.finish()
"""


def _script(
    cwd: Path, text: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    (cwd / "script.py").write_text(text)
    full = dict(os.environ, **(env or {}))
    done = subprocess.run(
        [PY, "script.py"], cwd=cwd, capture_output=True, text=True, timeout=120, env=full
    )
    assert done.returncode == 0, done.stderr
    return done


def _run_id(done: subprocess.CompletedProcess[str]) -> str:
    return next(line[4:] for line in done.stdout.splitlines() if line.startswith("RUN "))


@pytest.mark.slow
def test_save_keeps_small_text_in_git_and_a_large_binary_in_dvc(repo: Path, tmp_path: Path) -> None:
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dvc")
    done = _script(repo, SAVE)
    assert "NAMES ['data/notes.txt']" in done.stdout
    ref = f"refs/gitexp/runs/{_run_id(done)}"
    files = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/files").split()
    assert sorted(files) == [
        ".gitexp/files/data/notes.txt",  # no base_path: relative to the current folder
        ".gitexp/files/deep.txt",  # relative to its base_path
        ".gitexp/files/end.txt",
        ".gitexp/files/end2.txt",  # "end": the glob is expanded again at the end
        ".gitexp/files/now.txt",
    ]

    def kept(name: str) -> str:
        return git(repo, "show", f"{ref}:.gitexp/files/{name}")

    assert kept("data/notes.txt") == "second\n"  # "live": kept current
    assert kept("now.txt") == "at the call\n"  # "now": as it was at the call
    assert kept("end.txt") == "late\n"
    assert kept("end2.txt") == "created later\n"
    # The large binary: never in git, a file of the run's own artifact, in DVC's cache.
    assert "big.bin" not in git(repo, "ls-tree", "-r", "--name-only", ref)
    lineage = json.loads(git(repo, "show", f"{ref}:.gitexp/lineage.json"))
    (output,) = lineage["outputs"]
    assert output["name"] == f"run-{_run_id(done)}-files" and output["type"] == "run-files"
    (big,) = output["files"]
    md5 = hashlib.md5(b"\0" * 1_500_000, usedforsecurity=False).hexdigest()
    assert big == {"name": "big.bin", "md5": md5, "size": 1_500_000}
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert cached.stat().st_size == 1_500_000
    # gitexp gc keeps what a run's versions use, however old.
    done = subprocess.run(
        [PY, "-m", "gitexp", "gc", "--keep-recent", "0s"], cwd=repo, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert cached.stat().st_size == 1_500_000


FORWARD = """\
import json, os, sys
keys = ("GITEXP_ALERT_TITLE", "GITEXP_ALERT_TEXT", "GITEXP_ALERT_LEVEL", "GITEXP_ALERT_RUN_ID")
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"env": {k: os.environ.get(k) for k in keys}, "argv": sys.argv[2:]}) + "\\n")
"""

ALERT = """\
import gitexp
run = gitexp.init()
gitexp.log({"loss": 1.0})
gitexp.alert("loss spiked $(touch pwned)", "loss 1.0; rm -rf nothing", level="WARN")
gitexp.alert("loss spiked $(touch pwned)", "held back", level="WARN", wait_duration=3600)
run.alert("done", "finished", "INFO")
try:
    gitexp.alert("x", "y", level="LOUD")
except ValueError as exc:
    print("ERR", exc)
print("RUN " + run.id)
gitexp.finish()
"""


@pytest.mark.slow
def test_alert_is_recorded_printed_and_forwarded_without_a_shell(
    repo: Path, tmp_path: Path
) -> None:
    forward = tmp_path / "forward.py"
    forward.write_text(FORWARD)
    got = tmp_path / "got.jsonl"
    git(repo, "config", "gitexp.alertCommand", f"{PY} {forward} {got}")
    done = _script(repo, ALERT)
    assert (
        "gitexp: alert [WARN] loss spiked $(touch pwned): loss 1.0; rm -rf nothing" in done.stderr
    )
    assert "gitexp: alert [INFO] done: finished" in done.stderr
    assert "held back" not in done.stderr  # wait_duration: the same title within the hour
    assert "ERR gitexp.alert: level must be one of INFO, WARN, ERROR" in done.stdout
    run_id = _run_id(done)
    lines = git(repo, "show", f"refs/gitexp/runs/{run_id}:.gitexp/alerts.jsonl").splitlines()
    alerts = [json.loads(line) for line in lines]
    assert [(a["level"], a["title"], a["text"], a["step"]) for a in alerts] == [
        ("WARN", "loss spiked $(touch pwned)", "loss 1.0; rm -rf nothing", 1),
        ("INFO", "done", "finished", 1),
    ]
    forwarded = [json.loads(line) for line in got.read_text().splitlines()]
    assert forwarded[0]["env"] == {
        "GITEXP_ALERT_TITLE": "loss spiked $(touch pwned)",
        "GITEXP_ALERT_TEXT": "loss 1.0; rm -rf nothing",
        "GITEXP_ALERT_LEVEL": "WARN",
        "GITEXP_ALERT_RUN_ID": run_id,
    }
    assert forwarded[0]["argv"] == ["loss spiked $(touch pwned)", "loss 1.0; rm -rf nothing"]
    assert forwarded[1]["env"]["GITEXP_ALERT_TITLE"] == "done"
    assert not (repo / "pwned").exists() and not (tmp_path / "pwned").exists()
    shown = gitexp("show", run_id, cwd=repo)
    assert "alerts (2)" in shown.stdout and "[WARN] loss spiked $(touch pwned)" in shown.stdout
    assert json.loads(gitexp("show", run_id, "--json", cwd=repo).stdout)["alerts"] == alerts


@pytest.mark.parametrize(
    "command,said",
    [("false", "exited 1"), ("no-such-alert-command-here", "could not forward")],
)
def test_a_failing_alert_command_warns_and_training_goes_on(
    repo: Path, command: str, said: str
) -> None:
    git(repo, "config", "gitexp.alertCommand", command)
    done = _script(repo, ALERT)
    assert f"gitexp.alertCommand {command!r} {said}" in done.stderr, done.stderr
    assert "training goes on" in done.stderr
    ref = f"refs/gitexp/runs/{_run_id(done)}"
    assert '"status": "finished"' in git(repo, "show", f"{ref}:.gitexp/run.json")
    assert len(git(repo, "show", f"{ref}:.gitexp/alerts.jsonl").splitlines()) == 2


SAVED_AND_RUN_DIR = """
import os
import gitexp
run = gitexp.init()
print("RUN", run.id)
with open("a", "w") as handle:
    handle.write("saved with gitexp.save")
gitexp.save("a", policy="now")
os.makedirs(os.path.join(run.dir, "a"))
with open(os.path.join(run.dir, "a", "b"), "w") as handle:
    handle.write("written into run.dir")
with open(os.path.join(run.dir, "c"), "w") as handle:
    handle.write("also run.dir")
gitexp.finish()
"""


def test_saved_files_and_run_dir_share_files_without_breaking_the_tree(repo: Path) -> None:
    """gitexp.save's copy `a` and run.dir's folder `a/` cannot both be in one tree: the
    run still finishes, with run.dir's files, and git reads the tree."""
    done = _script(repo, SAVED_AND_RUN_DIR)
    run_id = _run_id(done)
    ref = f"refs/gitexp/runs/{run_id}"
    names = git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/files").split()
    assert names == [".gitexp/files/a/b", ".gitexp/files/c"]
    assert git(repo, "show", f"{ref}:.gitexp/files/a/b") == "written into run.dir"
    assert '"status": "finished"' in git(repo, "show", f"{ref}:.gitexp/run.json")


def test_save_follows_the_repositorys_size_limits(repo: Path) -> None:
    """``git config gitexp.maxBinarySize 4m`` lets the snapshot keep a 1.5 MB binary in
    git; gitexp.save keeps it there too (it used the default limits)."""
    git(repo, "config", "gitexp.maxBinarySize", "4m")
    script = (
        "import gitexp\nrun = gitexp.init()\n"
        "open('big.bin', 'wb').write(b'\\0' * 1_500_000)\n"
        "gitexp.save('big.bin')\nprint('RUN ' + run.id)\ngitexp.finish()\n"
    )
    done = _script(repo, script)
    ref = f"refs/gitexp/runs/{_run_id(done)}"
    size = git(repo, "cat-file", "-s", f"{ref}:.gitexp/files/big.bin").strip()
    assert size == "1500000"
    assert "lineage.json" not in git(repo, "ls-tree", "--name-only", f"{ref}:.gitexp")
