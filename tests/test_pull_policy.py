"""The pull policy (issue 16, point 3): a finished run changes here only by an edit or a
resumption, whether it comes by ``gitexp pull`` or by a plain ``git fetch`` with the hooks.

Two clones of one bare repository stand for two machines; the teammate's hostile commits
are written with the git binary, as anyone could.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs

PY = sys.executable
TRAIN = """\
import gitexp
run = gitexp.init(config={"lr": 0.1})
for step in range(3):
    gitexp.log({"loss": 1.0 / (step + 1)})
gitexp.finish()
"""


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = gitexp(*args, cwd=cwd)
    assert done.returncode == 0, f"gitexp {' '.join(args)} -> {done.returncode}\n{done.stderr}"
    return done


def machines(tmp_path: Path) -> tuple[Path, Path, str]:
    """A teammate (A) and this clone (C) of one bare remote; A has one finished run that C
    pulled.  Returns A, C and the run's id."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a = tmp_path / "A"
    a.mkdir()
    git(a, "init", "-q")
    (a / "train.py").write_text(TRAIN)
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "train")
    git(a, "remote", "add", "origin", str(remote))
    git(a, "push", "-q", "-u", "origin", "main")
    ok("run", "--name", "baseline", "--", PY, "train.py", cwd=a)
    ok("push", cwd=a)
    c = tmp_path / "C"
    git(tmp_path, "clone", "-q", str(remote), str(c))
    ok("pull", cwd=c)
    (run_id,) = run_refs(a)
    assert run_refs(c) == run_refs(a)
    return a, c, run_id


def rewrite(repo: Path, run_id: str, files: dict[str, bytes]) -> str:
    """A commit on top of the run whose tree has ``files`` replaced, with the same message
    (status finished): what a teammate's script could write to make a run look better."""
    ref = f"refs/gitexp/runs/{run_id}"
    commit = rewrite_ref(repo, ref, files, None)
    git(repo, "update-ref", ref, commit)
    return commit


def better_metrics(repo: Path, run_id: str) -> dict[str, bytes]:
    ref = f"refs/gitexp/runs/{run_id}"
    rows = git(repo, "show", f"{ref}:.gitexp/history/000000.jsonl").splitlines()
    forged = [json.dumps({**json.loads(row), "loss": 0.001}) for row in rows]
    return {".gitexp/history/000000.jsonl": ("\n".join(forged) + "\n").encode()}


@pytest.mark.slow
def test_pull_takes_edits_and_resumptions_and_refuses_a_rewritten_finished_run(
    tmp_path: Path,
) -> None:
    a, c, run_id = machines(tmp_path)

    # A teammate's edit (tags, note, name) is a fast-forward the policy accepts.
    ok("tag", run_id, "+best", cwd=a)
    ok("note", run_id, "checked by A", cwd=a)
    ok("rename", run_id, "baseline-v2", cwd=a)
    ok("push", cwd=a)
    ok("pull", cwd=c)
    assert run_refs(c) == run_refs(a)

    # So is a resumption, with its checkpoints and final commit.
    ok("run", "--resume", run_id, "--", PY, "train.py", cwd=a)
    ok("push", cwd=a)
    ok("pull", cwd=c)
    assert run_refs(c)[run_id] == run_refs(a)[run_id]
    resumed = json.loads(git(c, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json"))
    assert len(resumed["resumes"]) == 1

    # A rewrite of the finished run's metrics is refused; another new run still comes.
    mine = run_refs(c)
    rewrite(a, run_id, better_metrics(a, run_id))
    ok("run", "--name", "second", "--", PY, "train.py", cwd=a)
    git(a, "push", "-q", "origin", "+refs/gitexp/runs/*:refs/gitexp/runs/*")
    done = gitexp("pull", cwd=c)
    assert done.returncode == 9, done.stderr
    assert f"refused    {run_id[:7]}  baseline-v2" in done.stdout
    assert ".gitexp/history/000000.jsonl changed" in done.stdout
    assert run_refs(c)[run_id] == mine[run_id]  # untouched
    assert set(run_refs(c)) == set(run_refs(a))  # the new run was pulled
    report = json.loads(gitexp("pull", "--json", cwd=c).stdout)
    refused = [r for r in report["runs"] if r["action"] == "refused"]
    assert [r["id"] for r in refused] == [run_id] and not report["ok"]


@pytest.mark.slow
def test_git_fetch_with_hooks_warns_and_keeps_the_finished_run(tmp_path: Path) -> None:
    a, c, run_id = machines(tmp_path)
    ok("install", cwd=c)
    mine = run_refs(c)
    run_json = git(a, "show", f"refs/gitexp/runs/{run_id}:.gitexp/run.json")
    forged = json.loads(run_json) | {"exit_code": 0, "status": "finished", "host": "forged"}
    rewrite(a, run_id, {".gitexp/run.json": json.dumps(forged).encode()})
    git(a, "push", "-q", "origin", "+refs/gitexp/runs/*:refs/gitexp/runs/*")

    git(c, "fetch", "-q")
    done = ok("ls", cwd=c)  # brings in what the fetch mirrored, and says what it refused
    assert f"run {run_id[:7]} not updated from origin" in done.stderr
    assert "run.json: host changed" in done.stderr
    assert run_refs(c) == mine
    mirror = git(c, "rev-parse", f"refs/remotes/origin/gitexp/runs/{run_id}").strip()
    assert mirror == run_refs(a)[run_id]  # the remote's commit is there to inspect


def test_a_merge_commit_cannot_smuggle_history_into_a_finished_run(tmp_path: Path) -> None:
    from gitexp.git.repo import GitRepo
    from gitexp.share.policy import refusal

    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "f").write_text("x\n")
    git(repo, "add", "f")
    git(repo, "commit", "-q", "-m", "gitexp: x finished (finished)")
    local = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "other")
    other = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    merge = git(repo, "commit-tree", tree, "-p", other, "-p", local, "-m", "m").strip()
    with GitRepo.discover(str(repo)) as opened:
        why = refusal(opened, local.encode(), merge.encode())
    assert why is not None and "2 parents" in why


def _forge(repo: Path, parent: str, files: dict[str, bytes], message: str | None = None) -> str:
    """A commit on ``parent`` with ``files`` replaced (and ``message``, else the parent's)."""
    ref = "refs/gitexp/forged"
    git(repo, "update-ref", ref, parent)
    commit = rewrite_ref(repo, ref, files, message)
    git(repo, "update-ref", "-d", ref)
    return commit


def rewrite_ref(repo: Path, ref: str, files: dict[str, bytes], message: str | None) -> str:
    index = repo / ".git" / "forged-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "read-tree", ref], cwd=repo, env=env, check=True)
    for path, data in files.items():
        blob = (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
            )
            .stdout.decode()
            .strip()
        )
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
            cwd=repo,
            env=env,
            check=True,
        )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    index.unlink()
    text = message if message is not None else git(repo, "log", "-1", "--format=%B", ref)
    return subprocess.run(
        ["git", "commit-tree", tree, "-p", ref],
        cwd=repo,
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_forged_resumptions_and_edits_are_refused(repo: Path) -> None:
    from gitexp.git.repo import GitRepo
    from gitexp.share.policy import refusal

    (repo / "train.py").write_text(TRAIN)
    ok("run", "--", PY, "train.py", cwd=repo)
    ((run_id, finished),) = run_refs(repo).items()
    ref = f"refs/gitexp/runs/{run_id}"
    info = json.loads(git(repo, "show", f"{ref}:.gitexp/run.json"))
    history = git(repo, "show", f"{ref}:.gitexp/history/000000.jsonl").encode()
    message = git(repo, "log", "-1", "--format=%B", ref)
    running = message.replace('"status":"finished"', '"status":"running"')
    assert running != message
    resumed_json = json.dumps(info | {"status": "running", "resumes": [{"from_step": 3}]})
    resumed = _forge(repo, finished, {".gitexp/run.json": resumed_json.encode()}, running)
    appended = history + b'{"_step": 3, "loss": 0.2}\n'
    honest = _forge(repo, resumed, {".gitexp/history/000000.jsonl": appended})
    forged = history.replace(b'"loss":1.0', b'"loss":0.01')
    assert forged != history
    lying = _forge(repo, resumed, {".gitexp/history/000000.jsonl": forged + b"{}\n"})
    code = _forge(repo, resumed, {"train.py": b"print('other code')\n"})
    # An edit commit whose listing row claims better metrics than the files hold.
    better = message.replace('"min":0.3333333333333333', '"min":0.01', 1)
    row_lie = _forge(repo, finished, {}, better)
    assert row_lie != finished
    tagged = json.dumps(info | {"tags": ["best"], "notes": "checked", "name": "renamed"})
    edit = _forge(repo, finished, {".gitexp/run.json": tagged.encode()})
    extra = _forge(repo, finished, {".gitexp/resumes/9/evil.py": b"x"})

    # A run from an older gitexp (no resumes, no redacted) with a field of a newer one,
    # edited by this gitexp: run.json gains the defaults and moves the field into extra.
    older = {k: v for k, v in info.items() if k not in ("resumes", "redacted", "extra")}
    old_run = _forge(repo, finished, {".gitexp/run.json": json.dumps(older | {"x": 1}).encode()})
    rewritten = info | {"tags": ["best"], "extra": {"x": 1}}
    old_edit = _forge(repo, old_run, {".gitexp/run.json": json.dumps(rewritten).encode()})

    def why(commit: str, base: str = finished) -> str | None:
        with GitRepo.discover(str(repo)) as opened:
            return refusal(opened, base.encode(), commit.encode())

    assert why(old_edit, old_run) is None

    assert why(resumed) is None and why(honest) is None and why(edit) is None
    assert "history/000000.jsonl was rewritten" in str(why(lying))
    assert "code snapshot" in str(why(code))
    assert "listing row: metrics changed" in str(why(row_lie))
    assert ".gitexp/resumes/9/evil.py" in str(why(extra))
