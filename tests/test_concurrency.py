"""Many writers at once: runs started together in one work tree, clones pushing to one
remote together, and readers (``ls``, ``show``, ``diff``) while runs are being written.

Git gives atomic ref updates and immutable objects; gitexp keeps no database beside
them.  These tests check that it stays so under contention: nothing lost, nothing mixed
up between runs, and no half-written run ever shown as finished.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    PY,
    fsck_problems,
    git,
    gitexp_cmd,
    history_rows,
    make_repo,
    report,
    run_gitexp,
    run_json,
    run_refs,
    show,
    tree_listing,
)

SEED = int(os.environ.get("GITEXP_FAULT_SEED", "20261127"))

# -- 16 runs started at once in one repository and work tree -----------------------------------

# Writes outputs/<run id>.txt into the work tree once started (renamed into place, so a
# snapshot sees all of it or nothing), holding the run id and the time it was written.
OUTPUT_CHILD = """
import os, sys, time
run_id = os.environ["GITEXP_RUN_ID"]
tmp = os.path.join(sys.argv[1], run_id + ".tmp")
with open(tmp, "w") as out:
    out.write(f"{run_id} {time.time()!r}\\n")
os.replace(tmp, os.path.join("outputs", run_id + ".txt"))
with open(os.path.join(sys.argv[1], run_id + ".done"), "w") as done:
    done.write(repr(time.time()))  # in the work tree by now
time.sleep(0.3)
print("trained", run_id)
"""


@pytest.mark.slow
def test_16_runs_started_at_once_each_snapshot_its_own_start(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"train.py": "print('train')\n", "tracked.txt": "v000\n", "outputs/.keep": ""},
    )
    index_before = (repo / ".git" / "index").read_bytes()
    head_before = git(repo, "rev-parse", "HEAD")
    head_tree = tree_listing(repo, "HEAD")
    scratch = tmp_path / "scratch"  # same file system as the work tree, outside it
    scratch.mkdir()
    child = tmp_path / "child.py"
    child.write_text(OUTPUT_CHILD)
    rng = random.Random(SEED)
    written: list[float] = []  # when tracked.txt got version i
    launched: list[float] = []
    procs = []
    for i in range(16):
        tmp = scratch / "tracked.tmp"
        tmp.write_text(f"v{i:03d}\n")  # same size every time: only content tells them apart
        written.append(time.time())  # before the file changes: a lower bound
        os.replace(tmp, repo / "tracked.txt")
        launched.append(time.time())
        procs.append(
            subprocess.Popen(
                gitexp_cmd("run", "--name", f"c-{i:02d}", "--", PY, str(child), str(scratch)),
                cwd=repo,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        time.sleep(rng.uniform(0, 0.03))
    results = [proc.communicate(timeout=120) for proc in procs]

    for i, (proc, (_out, err)) in enumerate(zip(procs, results, strict=True)):
        assert proc.returncode == 0, (i, err.decode())
    refs = run_refs(repo)
    assert len(refs) == 16 and len(set(refs.values())) == 16
    runs: dict[str, dict[str, Any]] = {}
    for run_id in refs:
        info = run_json(repo, f"refs/gitexp/runs/{run_id}")
        assert info["id"] == run_id and info["status"] == "finished"
        runs[run_id] = info
    assert sorted(info["name"] for info in runs.values()) == [f"c-{i:02d}" for i in range(16)]
    outputs = {
        run_id: (repo / "outputs" / f"{run_id}.txt").read_text() for run_id in runs
    }  # what each command wrote, after its start
    checked_pairs = 0
    for run_id, info in runs.items():
        i = int(info["name"][2:])
        ref = f"refs/gitexp/runs/{run_id}"
        files = tree_listing(repo, ref)
        # Tracked files: as in HEAD, except tracked.txt, which was at some version
        # written before the run started and not before this run was launched.
        version = int(show(repo, ref, "tracked.txt")[1:4])
        assert version >= i, (info["name"], version)
        assert written[version] < info["start"]
        for path, entry in head_tree.items():
            if path != "tracked.txt":
                assert files[path] == entry, path
        # Other runs' outputs: present exactly as written, and only if written before.
        own = f"outputs/{run_id}.txt"
        assert own not in files, "a run's snapshot holds what its command wrote later"
        for other, text in outputs.items():
            path = f"outputs/{other}.txt"
            wrote_at = float((scratch / f"{other}.done").read_text())  # after it was there
            if path in files:
                assert show(repo, ref, path) == text
                assert runs[other]["start"] < info["start"]
                checked_pairs += 1
            elif other != run_id:
                assert wrote_at > launched[i], f"{info['name']} misses {runs[other]['name']}"
        extra = set(files) - set(head_tree) - {f"outputs/{o}.txt" for o in outputs}
        assert not extra, extra  # nothing else: no .gitexp, no live files, no temp files
        outputs_seen = any(p.startswith("outputs/") and p != "outputs/.keep" for p in files)
        assert info["dirty"] == (version != 0 or outputs_seen)
    assert (repo / ".git" / "index").read_bytes() == index_before  # gitexp never writes it
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert not any((repo / ".git" / "gitexp" / "live").iterdir())
    assert not fsck_problems(repo)
    report(f"concurrent runs: 16 started at once, 16 recorded; {checked_pairs} cross-run checks")


# -- 8 clones pushing runs to one remote at the same time ---------------------------------------


def _has_push_command() -> bool:
    from gitexp.cli import COMMANDS

    return "push" in COMMANDS


def _parallel(jobs: list[list[str]], cwds: list[Path]) -> list[subprocess.CompletedProcess[str]]:
    """Start every command at once (after a barrier); return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def work(index: int) -> None:
        barrier.wait()
        results[index] = subprocess.run(
            jobs[index], cwd=cwds[index], capture_output=True, text=True, timeout=120
        )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


PUSH = ["git", "push", "--quiet", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*"]


@pytest.mark.slow
def test_8_clones_pushing_at_once_lose_no_run(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(remote))
    clones = []
    for k in range(8):
        clone = tmp_path / f"clone-{k}"
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        (clone / f"work-{k}.txt").write_text(f"uncommitted work of clone {k}\n")
        clones.append(clone)
    code = "import gitexp, sys; gitexp.init(); gitexp.log({'loss': float(sys.argv[1])})"
    record = [gitexp_cmd("run", "--", PY, "-c", code, str(k)) for k in range(8)]
    for _round in range(2):  # two runs per clone, eight clones recording at once
        for result in _parallel(record, clones):
            assert result.returncode == 0, result.stderr

    pushed = _parallel([PUSH] * 8, clones)  # everyone pushes at the same moment

    for result in pushed:
        assert result.returncode == 0, result.stderr
    expected: dict[str, str] = {}
    for clone in clones:
        expected.update(run_refs(clone))
    assert len(expected) == 16
    assert run_refs(remote) == expected

    # Every clone edits one of its runs (a fast-forward commit) and pushes again at once:
    # no --force needed, nothing of the others overwritten.
    tag = []
    for clone in clones:
        newest = max(
            run_refs(clone), key=lambda i: run_json(clone, f"refs/gitexp/runs/{i}")["start"]
        )
        tag.append(gitexp_cmd("tag", newest, "+shared"))
    for result in _parallel(tag, clones):
        assert result.returncode == 0, result.stderr
    second = [gitexp_cmd("push")] * 8 if _has_push_command() else [PUSH] * 8
    for result in _parallel(second, clones):
        assert result.returncode == 0, result.stderr
    expected = {}
    for clone in clones:
        expected.update(run_refs(clone))
    assert run_refs(remote) == expected
    assert not fsck_problems(remote)

    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    git(fresh, "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    listed = run_gitexp("ls", "--json", "--all", cwd=fresh)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 16 and {r["status"] for r in rows} == {"finished"}
    assert sum("shared" in r["tags"] for r in rows) == 8
    for row in rows:
        assert history_rows(fresh, f"refs/gitexp/runs/{row['id']}")[0]["loss"] in range(8)
    report(
        "concurrent pushes: 8 clones x 2 runs pushed at once, then 8 fast-forward edits "
        f"pushed at once ({'gitexp push' if _has_push_command() else 'git push'}): 16/16 arrived"
    )


# -- reading while runs are being written ------------------------------------------------------

WRITER_CHILD = """
import os, sys, time
import gitexp
gitexp.init()
rows = int(sys.argv[2])
for step in range(rows):
    gitexp.log({"v": step})
    time.sleep(0.01)
gitexp.finish()
with open(os.path.join(sys.argv[1], os.environ["GITEXP_RUN_ID"]), "w") as done:
    done.write(str(rows))
"""


@pytest.mark.slow
def test_ls_show_diff_while_runs_are_written(tmp_path: Path) -> None:
    """Readers never crash and never show a run as finished before all of it is in git."""
    repo = make_repo(tmp_path / "repo")
    child = tmp_path / "writer.py"
    child.write_text(WRITER_CHILD)
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    rng = random.Random(SEED)
    stop = threading.Event()
    errors: list[str] = []
    reads = {"ls": 0, "show": 0, "diff": 0, "finished seen": 0, "running seen": 0}
    env = {"GITEXP_CHECKPOINT_SECONDS": "0.05"}

    def writer(index: int) -> None:
        for round_ in range(4):
            rows = 20 + 15 * ((index + round_) % 3)
            done = run_gitexp(
                "run", "--", PY, str(child), str(done_dir), str(rows), cwd=repo, env=env
            )
            if done.returncode != 0:
                errors.append(f"writer {index}: {done.stderr}")

    def check(done: subprocess.CompletedProcess[str], what: str) -> Any:
        if done.returncode != 0 or "Traceback" in done.stderr:
            errors.append(f"{what}: exit {done.returncode}: {done.stderr[-2000:]}")
            return None
        return json.loads(done.stdout)

    def finished_rows(run_id: str) -> int | None:
        marker = done_dir / run_id
        return int(marker.read_text()) if marker.exists() else None

    def reader(seed: int) -> None:
        local = random.Random(seed)
        while not stop.is_set():
            rows = check(run_gitexp("ls", "--json", "--all", cwd=repo), "ls")
            reads["ls"] += 1
            if not rows:
                continue
            for row in rows:
                if row["status"] == "finished":
                    reads["finished seen"] += 1
                    expected = finished_rows(row["id"])
                    if expected is None or row["metrics"]["v"]["last"] != expected - 1:
                        errors.append(f"ls shows {row['id']} finished too early: {row}")
                elif row["status"] == "running":
                    reads["running seen"] += 1
                else:
                    errors.append(f"ls shows {row['id']} as {row['status']}")
            one = local.choice(rows)
            shown = check(run_gitexp("show", one["id"], "--json", cwd=repo), "show")
            reads["show"] += 1
            if shown and shown["run"]["status"] == "finished":
                expected = finished_rows(one["id"])
                if shown["metrics"].get("steps") != expected:
                    errors.append(f"show {one['id']}: {shown['metrics'].get('steps')} rows")
            if len(rows) >= 2:
                a, b = local.sample(rows, 2)
                check(run_gitexp("diff", a["id"], b["id"], "--json", cwd=repo), "diff")
                reads["diff"] += 1

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    readers = [threading.Thread(target=reader, args=(rng.random(),)) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()

    assert not errors, "\n".join(errors[:10])
    refs = run_refs(repo)
    assert len(refs) == 12
    for run_id in refs:
        assert len(history_rows(repo, f"refs/gitexp/runs/{run_id}")) == finished_rows(run_id)
    assert reads["running seen"] > 0 and reads["show"] > 0
    assert not fsck_problems(repo)
    report(f"reads during writes: 12 runs written by 3 writers; {reads}")


@pytest.mark.parametrize("command", ["ls", "show"])
def test_reading_a_run_whose_ref_moves_underneath(tmp_path: Path, command: str) -> None:
    """The listing cache is keyed by commit: a ref that moves between two reads is read
    anew, never answered with the older row."""
    repo = make_repo(tmp_path / "repo")
    done = run_gitexp("run", "--", PY, "-c", "pass", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    first = run_gitexp(command, *([run_id] if command == "show" else []), "--json", cwd=repo)
    assert first.returncode == 0
    assert run_gitexp("tag", run_id, "+moved", cwd=repo).returncode == 0
    second = run_gitexp(command, *([run_id] if command == "show" else []), "--json", cwd=repo)
    data = json.loads(second.stdout)
    tags = data[0]["tags"] if command == "ls" else data["run"]["tags"]
    assert tags == ["moved"]
