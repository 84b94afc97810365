"""gitexp.git.files: the repository layout, refs and pack indexes read without
dulwich, checked against dulwich and the git binary on real repositories."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs
from dulwich.repo import Repo

from gitexp.git import files as gitfiles
from gitexp.git.repo import GitRepo


def _valid(name: bytes) -> bool:
    return True


def _dulwich_layout(start: Path) -> tuple[str, str, str]:
    repo = Repo.discover(str(start))
    try:
        return (
            os.path.realpath(repo.path),
            os.path.realpath(repo.controldir()),
            os.path.realpath(repo.commondir()),
        )
    finally:
        repo.close()


def _real(found: tuple[str, str, str] | None) -> tuple[str, ...] | None:
    return None if found is None else tuple(os.path.realpath(p) for p in found)


def test_finds_the_repository_dulwich_finds(repo: Path, tmp_path: Path) -> None:
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    for start in (repo, deep):
        assert _real(gitfiles.find_repository(str(start))) == _dulwich_layout(start)
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "--detach", str(linked))
    found = gitfiles.find_repository(str(linked))
    assert _real(found) == _dulwich_layout(linked)
    assert found is not None and os.path.realpath(found[2]) == os.path.realpath(repo / ".git")
    link = tmp_path / "link"
    link.symlink_to(repo)
    assert _real(gitfiles.find_repository(str(link))) == _dulwich_layout(repo)


@pytest.mark.parametrize(
    "case", ["bare", "inside .git", "extension", "GIT_DIR", "no repository", "bad .git file"]
)
def test_leaves_unusual_layouts_to_dulwich(
    case: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = repo
    if case == "bare":
        start = tmp_path / "bare.git"
        git(tmp_path, "init", "-q", "--bare", str(start))
    elif case == "inside .git":
        start = repo / ".git" / "refs"
    elif case == "extension":
        git(repo, "config", "extensions.worktreeConfig", "true")
    elif case == "GIT_DIR":
        monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    elif case == "no repository":
        start = tmp_path / "plain"
        start.mkdir()
    else:
        start = tmp_path / "odd"
        start.mkdir()
        (start / ".git").write_text("not a gitdir line\n")
    assert gitfiles.find_repository(str(start)) is None


def test_opened_without_dulwich_for_unusual_layouts_still_records(repo: Path) -> None:
    git(repo, "config", "extensions.worktreeConfig", "true")  # dulwich opens this one
    done = gitexp("run", "--", "true", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert len(run_refs(repo)) == 1
    assert "error" not in git(repo, "fsck", "--no-dangling", check=False)


def test_reads_refs_as_git_does(repo: Path) -> None:
    control = str(repo / ".git")
    head = git(repo, "rev-parse", "HEAD").strip().encode()
    assert gitfiles.read_ref(control, control, b"HEAD", _valid) == head
    git(repo, "branch", "feature.x")
    git(repo, "pack-refs", "--all")  # branches now only in packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "feature.x").exists()
    assert gitfiles.read_ref(control, control, b"refs/heads/feature.x", _valid) == head
    assert gitfiles.read_ref(control, control, b"HEAD", _valid) == head
    assert gitfiles.read_ref(control, control, b"refs/heads/missing", _valid) is None
    git(repo, "checkout", "-q", "--detach")
    assert gitfiles.read_ref(control, control, b"HEAD", _valid) == head
    git(repo, "checkout", "-q", "--orphan", "unborn")
    assert gitfiles.read_ref(control, control, b"HEAD", _valid) is None
    with pytest.raises(gitfiles.Unanswered):  # not a ref this module reads
        gitfiles.read_ref(control, control, b"refs/tags/v1", _valid)


def _all_objects(repo: Path) -> list[bytes]:
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return [line.encode() for line in out.split()]


def test_object_presence_matches_git_loose_and_packed(repo: Path) -> None:
    for i in range(30):
        (repo / f"f{i}.txt").write_text(f"content {i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    loose = _all_objects(repo)
    presence = gitfiles.ObjectPresence(str(repo / ".git" / "objects"))
    assert all(presence.contains(sha) for sha in loose)
    git(repo, "gc", "-q", "--prune=now")  # every object now only in a pack
    packed = _all_objects(repo)
    assert sorted(packed) == sorted(loose)
    assert not any((repo / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*"))
    presence = gitfiles.ObjectPresence(str(repo / ".git" / "objects"))
    assert all(presence.contains(sha) for sha in packed)
    rng = random.Random(7)
    absent = [f"{rng.getrandbits(160):040x}".encode() for _ in range(200)]
    absent += [bytes(sha[:-1]) + (b"0" if sha[-1:] != b"0" else b"1") for sha in packed]
    known = set(packed)
    assert not any(presence.contains(sha) for sha in absent if sha not in known)


def test_runs_after_gc_write_no_duplicate_trees(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    git(repo, "gc", "-q", "--prune=now")
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    loose = {
        f"{p.parent.name}{p.name}" for p in (repo / ".git" / "objects").glob("[0-9a-f][0-9a-f]/*")
    }
    packed = set(
        git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    )
    trees = set(git(repo, "ls-tree", "-r", "-t", "--format=%(objectname)", "HEAD").split())
    assert not (loose & trees & packed)  # the snapshot's folders were found in the pack


def test_alternates_fall_back_to_dulwich(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shared"
    git(tmp_path, "clone", "-q", "--shared", str(repo), str(clone))
    assert (clone / ".git" / "objects" / "info" / "alternates").exists()
    with pytest.raises(gitfiles.Unanswered):
        gitfiles.ObjectPresence(str(clone / ".git" / "objects")).contains(b"0" * 40)
    done = gitexp("run", "--", "true", cwd=clone)
    assert done.returncode == 0, done.stderr
    assert "error" not in git(clone, "fsck", "--no-dangling", check=False)
    with GitRepo.discover(str(clone)) as opened:
        head = git(clone, "rev-parse", "HEAD").strip().encode()
        assert opened.has_object(head)  # only in the other repository's store


def test_reflog_of_a_run_as_git_reads_it(repo: Path) -> None:
    assert gitexp("run", "--", "true", cwd=repo).returncode == 0
    (run_id,) = run_refs(repo)
    log = git(repo, "reflog", "show", "--format=%gs", f"refs/gitexp/runs/{run_id}")
    assert log.split("\n")[:2] == ["gitexp: finished", "gitexp: started"]


def _git_in(cwd: Path, stdin: str, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_trees_written_as_git_writes_them(empty_repo: Path) -> None:
    """Entry order (a folder sorts as if its name ended in '/'), modes and ids match
    `git mktree`; the loose objects pass `git fsck`."""
    with GitRepo.discover(str(empty_repo)) as repo:
        blob = repo.write_blob(b"content\n")
        assert blob.decode() == _git_in(empty_repo, "content\n", "hash-object", "--stdin").strip()
        files = [
            (b"a", 0o100644, blob),
            (b"a-b", 0o100755, blob),
            (b"a.b", 0o120000, blob),
            (b"a0", 0o100644, blob),
            (b"a/x", 0o100644, blob),
            (b"a.b.c/y", 0o100644, blob),
            (b"sub", 0o160000, b"1" * 40),  # a gitlink (a commit elsewhere): not a folder
            (b"sub.x", 0o100644, blob),
            ("é/ü".encode(), 0o100644, blob),
        ]
        files = [f for f in files if f[0] != b"a"]  # a file and a folder cannot share a name
        root = repo.write_tree(files)
    listing = _git_in(empty_repo, "", "ls-tree", "-r", "-t", "--full-tree", root.decode())
    subtrees = {}
    for line in listing.splitlines():
        meta, path = line.split("\t")
        _mode, kind, sha = meta.split()
        if kind == "tree":
            subtrees[path] = sha
    for folder, sha in subtrees.items():
        entries = _git_in(empty_repo, "", "ls-tree", sha)
        assert _git_in(empty_repo, entries, "mktree", "--missing").strip() == sha, folder
    top = _git_in(empty_repo, "", "ls-tree", root.decode())
    assert _git_in(empty_repo, top, "mktree", "--missing").strip() == root.decode()
    assert [line.split("\t")[1] for line in top.splitlines()] == sorted(
        {p.decode().split("/")[0] for p, _, _ in files},
        key=lambda n: n + "/" if n in subtrees else n,
    )
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=empty_repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr


def test_commits_written_as_dulwich_writes_them(repo: Path) -> None:
    """Same bytes (so the same id) as dulwich's serializer; git reads them strictly."""
    from dulwich.objects import Commit

    from gitexp.git.repo import _timezone

    assert (_timezone(0), _timezone(3600), _timezone(-12600), _timezone(19800)) == (
        b"+0000",
        b"+0100",
        b"-0330",
        b"+0530",
    )
    with GitRepo.discover(str(repo)) as opened:
        tree = opened.write_tree([(b"a.txt", 0o100644, opened.write_blob(b"a\n"))])
        head = git(repo, "rev-parse", "HEAD").strip().encode()
        message = "gitexp: run\n\nnon-ASCII: é ✓\n"
        ours = opened.write_commit(tree, [head, head], message, when=1_700_000_000)
        expected = Commit()
        expected.tree, expected.parents = tree, [head, head]  # type: ignore[assignment]
        expected.author = expected.committer = opened.identity()
        stamp = 1_700_000_000
        zone = -time.altzone if time.localtime(stamp).tm_isdst > 0 else -time.timezone
        expected.author_time = expected.commit_time = stamp
        expected.author_timezone = expected.commit_timezone = zone
        expected.encoding = b"UTF-8"
        expected.message = message.encode()
        assert ours == expected.id
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert git(repo, "log", "-1", "--format=%B", ours.decode()) == message + "\n"


def test_run_refs_compare_and_swap_as_git_locks_them(repo: Path) -> None:
    control = str(repo / ".git")
    head = git(repo, "rev-parse", "HEAD").strip().encode()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    other = git(repo, "commit-tree", tree, "-m", "other").strip().encode()
    name = b"refs/gitexp/runs/abc"

    def valid(ref: bytes) -> bool:
        return True

    assert gitfiles.update_ref(control, name, head, None, valid)  # created
    assert not gitfiles.update_ref(control, name, other, None, valid)  # exists already
    assert not gitfiles.update_ref(control, name, other, b"f" * 40, valid)  # moved since
    assert gitfiles.update_ref(control, name, other, head, valid)
    assert git(repo, "rev-parse", name.decode()).strip().encode() == other
    git(repo, "pack-refs", "--all")  # now only in packed-refs
    assert not (repo / ".git" / name.decode()).exists()
    assert gitfiles.update_ref(control, name, head, other, valid)  # the packed value counts
    assert git(repo, "rev-parse", name.decode()).strip().encode() == head
    lock = repo / ".git" / (name.decode() + ".lock")
    lock.write_text("")  # another writer (git itself) holds it
    with pytest.raises(gitfiles.RefLocked):
        gitfiles.update_ref(control, name, other, head, valid)
    lock.unlink()
    assert not gitfiles.update_ref(control, name, other, other, valid)
    assert not lock.exists()  # a refused update leaves no lock behind
    with GitRepo.discover(str(repo)) as opened:  # through the repository: reflog too
        assert opened.move_ref(name, head, other, b"gitexp: finished")
    log = git(repo, "reflog", "show", "--format=%H %gs", name.decode()).splitlines()
    assert log[0] == f"{other.decode()} gitexp: finished"


def test_git_answers_only_for_entries_older_than_the_question() -> None:
    from gitexp.git.repo import GitAnswers

    asked = 1_700_000_000_123_456_789
    answers = GitAnswers(asked, lambda: {}, lambda: ["data/", "x.log"])
    assert answers.ignored(None) is not None
    assert answers.ignored(asked - 60_000_000) is not None  # 60 ms before: listed by git
    assert answers.ignored(asked - 10_000_000) is None  # within a kernel tick: dulwich
    assert answers.ignored(asked + 1) is None  # changed after the question
    whole_seconds = (asked // 10**9 - 1) * 10**9  # a file system without sub-seconds
    assert answers.ignored(whole_seconds) is None
    assert answers.ignored(whole_seconds - 2 * 10**9) is not None
    entries = answers.ignored(None)
    assert entries is not None
    assert entries.covers("x.log") and entries.covers("data/a/b.csv") and entries.covers("data/")
    assert not entries.covers("x.log/") and not entries.covers("datax")
    assert entries.covers_folder("data/") and not entries.covers_folder("src/")


@pytest.mark.parametrize(
    ("setting", "synced"),
    [
        (None, False),  # git's default syncs packs and the index, not refs
        ("reference", True),
        ("committed", True),
        ("all,-reference", False),
        ("objects,derived-metadata", False),
        ("none,reference", True),
        ("-reference,all", True),
    ],
)
def test_refs_are_synced_as_core_fsync_asks(setting: str | None, synced: bool) -> None:
    assert gitfiles.refs_synced(setting) is synced


def test_a_run_syncs_its_ref_only_when_core_fsync_asks(repo: Path, tmp_path: Path) -> None:
    """Checked in the system calls of a real run (strace): git's own rule, refs synced
    with ``core.fsync=reference``, not by default."""
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")

    def fsyncs() -> int:
        trace = tmp_path / "trace"
        done = subprocess.run(
            ["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", str(trace),
             sys.executable, "-m", "gitexp", "run", "--", "true"],
            cwd=repo, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return sum("fsync(" in line for line in trace.read_text().splitlines())

    assert fsyncs() == 0
    git(repo, "config", "core.fsync", "reference")
    assert fsyncs() >= 2  # the first commit's ref and the final one's
