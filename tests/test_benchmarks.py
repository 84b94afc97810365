"""The benchmark harness keeps working, and the fast readers it led to stay correct.

The harness runs at its tiny size, without the rows that need the peers' environment
(installing wandb, MLflow and DVC takes minutes); the test checks that it ran and
printed every expected row, never a time.  The index and ref readers in
``gitexp/git/repo.py`` were rewritten for speed after profiling (docs/benchmarks.md);
they are checked against git's own view of the same files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dulwich.refs import Ref
from dulwich.repo import Repo

from gitexp.git.repo import GitRepo

Entry = tuple[int, bytes, int, int, int, int, bool]  # mode, sha, size, mtime, ctime, ino, trust
ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "run.py"
NO_PEER_BENCHMARKS = "import,run,layouts,log,ls,push,fetch,api,scale"
NO_PEER_ROWS = (
    "import",
    "run_800",
    "run_20k",
    "run_growth",
    "run_800_linguist",
    "run_800_textauto",
    "run_project",
    "script_self",
    "log_rate",
    "log_crash",
    "ls_first",
    "ls_cached",
    "diff",
    "ls_memory",
    "push_1000",
    "fetch_hooks",
    "fetch_first_command",
    "api_first",
    "api_repeated",
    "scale_ls_cold_100",
    "scale_ls_warm_100",
    "scale_where_cold_100",
    "scale_where_warm_100",
    "scale_pull_100",
    "scale_pull_git_100",
    "scale_push_100",
)


def git(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return done.stdout


@pytest.mark.slow
def test_tiny_harness_runs_and_reports(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITEXP_", "GIT_"))}
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--size", "tiny", "--only", NO_PEER_BENCHMARKS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "machine:" in out and "command:" in out
    for row in NO_PEER_ROWS:
        assert re.search(rf"^\| *{row} +\|", out, re.MULTILINE), f"row {row} missing:\n{out}"
    # Every row reached a verdict or said why not; none crashed the harness.
    assert "error" not in out.lower(), out


# -- the index reader ---------------------------------------------------------------------

_STAGE_DEBUG = re.compile(
    rb"(\d+) ([0-9a-f]{40}) (\d)\t(.*?)\0"
    rb"  ctime: (\d+):(\d+)\n  mtime: (\d+):(\d+)\n  dev: \d+\tino: (\d+)\n"
    rb"  uid: \d+\tgid: \d+\n  size: (\d+)\tflags: [0-9a-f]+\n",
    re.DOTALL,
)


def git_index_view(repo: Path) -> dict[bytes, Entry]:
    """Stage-0 entries as ``git ls-files --stage --debug`` and ``-v`` print them."""
    entries: dict[bytes, Entry] = {}
    raw = git("ls-files", "--stage", "--debug", "-z", cwd=repo)
    matches = list(_STAGE_DEBUG.finditer(raw))
    assert sum(len(m.group(0)) for m in matches) == len(raw)  # every entry was understood
    tags = {}
    for item in git("ls-files", "-v", "-z", cwd=repo).split(b"\0"):
        if item:
            tags[item[2:]] = item[:1]
    for m in matches:
        mode, sha, stage, path, cs, cns, ms, mns, ino, size = m.groups()
        if stage != b"0":
            continue
        trusted = tags[path].islower() or tags[path] == b"S"  # assume-unchanged, skip-worktree
        entries[path] = (
            int(mode, 8),
            sha,
            int(size),
            int(ms) * 1_000_000_000 + int(mns),
            int(cs) * 1_000_000_000 + int(cns),
            int(ino),
            trusted,
        )
    return entries


def gitexp_index_view(repo: Path) -> dict[bytes, Entry]:
    with GitRepo.discover(str(repo)) as opened:
        records = opened.read_index()
    return {
        path: (r.mode, r.sha, r.size, r.mtime_ns, r.ctime_ns, r.ino, r.trust_index)
        for path, r in records.items()
    }


def dulwich_index_view(repo: Path) -> dict[bytes, Entry]:
    """What the dulwich reader gitexp used before gave (stage 0 only)."""
    from dulwich.index import read_index

    def ns(stamp: Any) -> int:
        return int(stamp[0]) * 1_000_000_000 + int(stamp[1])

    out: dict[bytes, Entry] = {}
    with open(repo / ".git" / "index", "rb") as handle:
        for e in read_index(handle):
            if (e.flags >> 12) & 3:
                continue
            out[e.name] = (
                e.mode,
                bytes(e.sha),
                e.size,
                ns(e.mtime),
                ns(e.ctime),
                e.ino,
                bool(e.flags & 0x8000) or bool(e.extended_flags & 0x4000),
            )
    return out


@pytest.fixture(scope="module")
def busy_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Many files, long paths, every mode, every flag gitexp reads, and a conflict."""
    repo = tmp_path_factory.mktemp("index") / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "user.name", "T", cwd=repo)
    git("config", "user.email", "t@example.invalid", cwd=repo)
    for i in range(3000):
        path = repo / f"d{i % 17}" / f"e{i % 5}" / f"file-{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{i}\n")
    # Long paths: components near NAME_MAX, so version 4 strips hundreds of bytes from one
    # path to the next (its varint then needs two bytes).
    deep = repo / ("a" * 250) / ("b" * 250) / ("c" * 200)
    deep.mkdir(parents=True)
    (deep / "long.txt").write_text("long\n")
    (repo / ("z" * 240)).write_text("z\n")
    (repo / "naïve name with spaces.txt").write_text("utf-8\n")
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    os.symlink("run.sh", repo / "link")
    (repo / "conflict.txt").write_text("base\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "base", cwd=repo)
    git("checkout", "-q", "-b", "other", cwd=repo)
    (repo / "conflict.txt").write_text("other\n")
    git("commit", "-q", "-am", "other", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    (repo / "conflict.txt").write_text("main\n")
    git("commit", "-q", "-am", "main", cwd=repo)
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo, capture_output=True)  # conflicts
    blob = git("hash-object", "-w", "--stdin", cwd=repo, stdin=b"x\n").strip().decode()
    # A gitlink, and a name longer than the 12-bit length field (0xFFF): no file needed.
    git("update-index", "--add", "--cacheinfo", f"160000,{blob},sub", cwd=repo)
    huge = "/".join(["h" * 200] * 22) + "/end.txt"
    git("update-index", "--add", "--cacheinfo", f"100644,{blob},{huge}", cwd=repo)
    git("update-index", "--assume-unchanged", "d0/e0/file-0.txt", cwd=repo)
    git("update-index", "--skip-worktree", "d1/e1/file-1.txt", cwd=repo)
    return repo


@pytest.mark.parametrize("version", [2, 3, 4])
def test_index_reader_matches_git(busy_repo: Path, version: int) -> None:
    if version == 2:
        # Version 2 has no extended flags: drop skip-worktree (git refuses v2 otherwise).
        git("update-index", "--no-skip-worktree", "d1/e1/file-1.txt", cwd=busy_repo)
    else:
        git("update-index", "--skip-worktree", "d1/e1/file-1.txt", cwd=busy_repo)
    git("update-index", "--index-version", str(version), cwd=busy_repo)
    header = (busy_repo / ".git" / "index").read_bytes()[:8]
    assert header == b"DIRC" + version.to_bytes(4, "big")
    ours = gitexp_index_view(busy_repo)
    theirs = git_index_view(busy_repo)
    assert ours == theirs
    assert len(ours) > 3000 and b"conflict.txt" not in ours
    assert any(len(path) > 0xFFF for path in ours)
    assert ours[b"d0/e0/file-0.txt"][-1] and ours[b"link"][0] == 0o120000
    assert ours[b"sub"][0] == 0o160000 and ours[b"run.sh"][0] == 0o100755
    assert ours[b"d1/e1/file-1.txt"][-1] == (version > 2)


def test_index_reader_agrees_with_dulwich_where_dulwich_is_right(tmp_path: Path) -> None:
    """Short paths, every version: the records are exactly what the old reader gave."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    for i in range(500):
        (repo / f"f{i}.py").write_text(f"{i}\n")
    git("add", "-A", cwd=repo)
    git("update-index", "--assume-unchanged", "f1.py", cwd=repo)
    for version in (2, 3, 4):
        git("update-index", "--index-version", str(version), cwd=repo)
        assert gitexp_index_view(repo) == dulwich_index_view(repo)


def test_index_reader_leaves_odd_files_to_dulwich(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "a.txt").write_text("a\n")
    git("add", "-A", cwd=repo)
    index = repo / ".git" / "index"
    data = index.read_bytes()
    index.write_bytes(data[:40])  # truncated: dulwich's reader decides what that means
    with GitRepo.discover(str(repo)) as opened, pytest.raises(Exception):  # noqa: B017
        opened.read_index()
    index.unlink()
    with GitRepo.discover(str(repo)) as opened:
        assert opened.read_index() == {}


# -- the ref reader -----------------------------------------------------------------------


def test_list_refs_matches_dulwich_and_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "one", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "two", cwd=repo)
    one = git("rev-parse", "HEAD~1", cwd=repo).strip().decode()
    two = git("rev-parse", "HEAD", cwd=repo).strip().decode()
    lines = [f"create refs/gitexp/runs/p{i:04d} {one}" for i in range(300)]
    lines += [f"create refs/gitexp/runs/nested/x{i} {one}" for i in range(3)]
    lines += [f"create refs/gitexp/runs/dot.ted-{i} {one}" for i in range(3)]
    git("update-ref", "--stdin", cwd=repo, stdin="\n".join(lines).encode() + b"\n")
    git("pack-refs", "--all", cwd=repo)  # all packed, peeled header included
    loose = [f"create refs/gitexp/runs/l{i:04d} {two}" for i in range(200)]
    loose += [f"update refs/gitexp/runs/p{i:04d} {two}" for i in range(50)]  # loose wins
    git("update-ref", "--stdin", cwd=repo, stdin="\n".join(loose).encode() + b"\n")
    runs = repo / ".git" / "refs" / "gitexp" / "runs"
    (runs / "l0000.lock").write_text(two + "\n")  # a lock file is no ref
    (runs / "p0299").write_text("")  # empty loose ref: the packed value shows through
    (runs / "sym").write_text("ref: refs/heads/main\n")
    (runs / "dangling").write_text("ref: refs/heads/nothing\n")
    with GitRepo.discover(str(repo)) as opened:
        for prefix in (b"refs/gitexp/runs/", b"refs/heads/", b"refs/", b"refs/nothing/"):
            ours = opened.list_refs(prefix)
            with Repo(str(repo)) as plain:
                found = plain.refs.as_dict(Ref(prefix))
                theirs = {bytes(k): bytes(v) for k, v in found.items()}
            assert ours == theirs, prefix
        ours = opened.list_refs(b"refs/gitexp/runs/")
    listed = git("for-each-ref", "--format=%(refname) %(objectname)", "refs/gitexp/runs", cwd=repo)
    by_git = {}
    for line in listed.decode().splitlines():
        name, sha = line.split()
        by_git[name.removeprefix("refs/gitexp/runs/").encode()] = sha.encode()
    by_git.pop(b"dangling", None)
    # git calls an empty loose ref broken and skips it; dulwich (and so gitexp, which keeps
    # dulwich's answers) shows the packed value.  Everything else is git's view.
    assert {k: v for k, v in ours.items() if k != b"p0299"} == by_git
    assert ours[b"p0000"] == two.encode() and ours[b"p0100"] == one.encode()
    assert ours[b"sym"] == two.encode() and b"l0000.lock" not in ours
