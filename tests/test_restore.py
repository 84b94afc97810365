"""``gitexp restore``: a run's code back in the work tree, byte for byte, never losing work."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitexp.cli import main as cli_main
from gitexp.git.repo import GitRepo
from gitexp.model.record import FINISHED
from gitexp.record.secrets import looks_secret
from gitexp.record.starting import start_run

# -- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def record(path: Path) -> str:
    """Record a run of the work tree as it is, in this process (fast: no command runs)."""
    with inside(path), GitRepo.discover(str(path)) as repo:
        recorder, _snapshot = start_run(repo, command=["true"], config={}, source="cli")
        recorder.finalize(FINISHED, 0)
        return recorder.info.id


def state(root: Path, skip: tuple[str, ...] = (".git",)) -> dict[str, tuple[object, ...]]:
    """Every file and link under ``root``: ("link", target) or ("file", bytes, executable)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, names in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        for name in [*names, *(d for d in dirs if os.path.islink(os.path.join(dirpath, d)))]:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in skip:
                continue
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                out[rel] = ("file", Path(full).read_bytes(), bool(os.stat(full).st_mode & 0o100))
    return out


def write(root: Path, rel: str, entry: tuple[object, ...]) -> None:
    full = root / rel
    full.parent.mkdir(parents=True, exist_ok=True)
    if entry[0] == "link":
        os.symlink(str(entry[1]), full)
    else:
        assert isinstance(entry[1], bytes)
        full.write_bytes(entry[1])
        os.chmod(full, 0o755 if entry[2] else 0o644)


def remove(full: Path) -> None:
    if full.is_dir() and not full.is_symlink():
        import shutil

        shutil.rmtree(full)
    elif os.path.lexists(full):
        full.unlink()


def restore_in_process(path: Path, *args: str) -> int:
    with inside(path):
        return cli_main(["restore", *args])


# -- the property: record, mutate anything, restore, get the same bytes and modes --------------

NAME = st.text(alphabet="abé日 _-1", min_size=1, max_size=5).filter(
    lambda n: not looks_secret(n) and n.strip() == n and n not in ("-",)
)
CONTENT = st.one_of(st.just(b""), st.binary(max_size=40), st.text(max_size=30).map(str.encode))
ENTRY = st.one_of(
    st.tuples(st.just("file"), CONTENT, st.booleans()),
    st.tuples(st.just("link"), st.text(alphabet="ab./é", min_size=1, max_size=6)),
)


@st.composite
def workspaces(draw: st.DrawFn) -> dict[str, tuple[tuple[object, ...], bool]]:
    """{path: (entry, tracked)}: nested folders, no path both a file and a folder."""
    paths = draw(st.lists(st.lists(NAME, min_size=1, max_size=3), min_size=1, max_size=8))
    chosen: dict[str, tuple[tuple[object, ...], bool]] = {}
    for parts in paths:
        rel = "/".join(parts)
        clash = any(
            rel == other or rel.startswith(other + "/") or other.startswith(rel + "/")
            for other in chosen
        )
        if not clash:
            chosen[rel] = (draw(ENTRY), draw(st.booleans()))
    return chosen


MUTATION = st.tuples(
    st.sampled_from(["modify", "delete", "chmod", "add", "to_dir", "to_link", "parent_to_file"]),
    st.integers(min_value=0, max_value=20),
    CONTENT,
    st.lists(NAME, min_size=1, max_size=2),
)


def mutate(root: Path, ops: list[tuple[str, int, bytes, list[str]]]) -> None:
    for kind, index, data, parts in ops:
        existing = sorted(state(root))
        target = root / existing[index % len(existing)] if existing else None
        if kind == "add":
            full = root.joinpath(*parts)
            if any(os.path.lexists(p) and not p.is_dir() for p in full.parents):
                continue
            remove(full)
            write(root, str(full.relative_to(root)), ("file", data, False))
        elif target is None:
            continue
        elif kind == "modify":
            remove(target)
            target.write_bytes(data + b"!")
        elif kind == "delete":
            remove(target)
        elif kind == "chmod" and not target.is_symlink():
            os.chmod(target, os.stat(target).st_mode ^ 0o111)
        elif kind == "to_dir":
            remove(target)
            write(root, str(target.relative_to(root) / "inner"), ("file", data, True))
        elif kind == "to_link":
            remove(target)
            os.symlink("elsewhere", target)
        elif kind == "parent_to_file" and target.parent != root:
            remove(target.parent)
            target.parent.write_bytes(data)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(workspace=workspaces(), ops=st.lists(MUTATION, min_size=1, max_size=6))
def test_restore_round_trip_is_byte_identical(
    workspace: dict[str, tuple[tuple[object, ...], bool]],
    ops: list[tuple[str, int, bytes, list[str]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        git(root, "init", "-q")
        for rel, (entry, _tracked) in workspace.items():
            write(root, rel, entry)
        tracked = [rel for rel, (_entry, is_tracked) in workspace.items() if is_tracked]
        if tracked:
            git(root, "add", "--", *tracked)
            git(root, "commit", "-q", "-m", "baseline")
        expected = state(root)
        run_id = record(root)
        head_before = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
        index_before = (root / ".git" / "index").read_bytes() if tracked else None
        mutate(root, ops)
        assert restore_in_process(root, run_id, "--exact", "--force") == 0
        assert state(root) == expected
        assert git(root, "rev-parse", "--verify", "-q", "HEAD", check=False) == head_before
        if index_before is not None:
            assert (root / ".git" / "index").read_bytes() == index_before
        assert not (root / ".gitexp").exists()


# -- a second clone --------------------------------------------------------------------------


def test_restore_in_another_clone_gives_the_same_bytes(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text((repo / "train.py").read_text() + "# tuned\n")
    (repo / "notes dir").mkdir()
    (repo / "notes dir" / "résumé ü.txt").write_text("non-ascii name\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    (repo / "empty").write_bytes(b"")
    os.symlink("train.py", repo / "latest.py")
    done = gitexp("run", "--", sys.executable, "train.py", cwd=repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    expected = state(repo, skip=(".git", "data"))

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*")
    done = gitexp("restore", run_id[:7], cwd=clone)
    assert done.returncode == 0, done.stderr
    assert state(clone, skip=(".git", "data")) == expected
    assert git(clone, "status", "--porcelain", "--", "train.py").startswith(" M")


# -- uncommitted work: refuse, stash, force -----------------------------------------------------


@pytest.fixture
def recorded(repo: Path) -> tuple[Path, str]:
    """A run of ``repo`` with an edited train.py and an untracked helper."""
    (repo / "train.py").write_text("print('the run version')\n")
    (repo / "helper.py").write_text("HELPER = 1\n")
    return repo, record(repo)


def test_refuses_to_overwrite_uncommitted_work_and_names_the_files(
    recorded: tuple[Path, str],
) -> None:
    repo, run_id = recorded
    (repo / "train.py").write_text("print('my newer work')\n")
    done = gitexp("restore", run_id, cwd=repo)
    assert done.returncode == 6
    assert "train.py" in done.stderr
    assert "--stash" in done.stderr and "--force" in done.stderr
    assert (repo / "train.py").read_text() == "print('my newer work')\n"


def test_stash_keeps_the_work_recoverable_with_plain_git(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    (repo / "train.py").write_text("print('my newer work')\n")
    (repo / "my notes ü.txt").write_text("untracked, not in the run\n")
    done = gitexp("restore", run_id, "--stash", "--exact", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "train.py").read_text() == "print('the run version')\n"
    assert not (repo / "my notes ü.txt").exists()
    assert "removed my notes ü.txt" in done.stderr
    command = done.stdout.strip()
    assert command.startswith("git restore --source=refs/gitexp/stash/")
    subprocess.run(shlex.split(command), cwd=repo, check=True, capture_output=True)
    assert (repo / "train.py").read_text() == "print('my newer work')\n"
    assert (repo / "my notes ü.txt").read_text() == "untracked, not in the run\n"


def test_force_overwrites(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    (repo / "train.py").write_text("print('my newer work')\n")
    (repo / "helper.py").unlink()
    done = gitexp("restore", run_id, "--force", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "train.py").read_text() == "print('the run version')\n"
    assert (repo / "helper.py").read_text() == "HELPER = 1\n"
    assert git(repo, "for-each-ref", "refs/gitexp/stash") == ""


def test_a_file_git_can_bring_back_is_overwritten_without_asking(
    recorded: tuple[Path, str],
) -> None:
    repo, run_id = recorded
    git(repo, "checkout", "--", "train.py")  # identical to HEAD: nothing to lose
    (repo / "helper.py").unlink()
    done = gitexp("restore", run_id, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "train.py").read_text() == "print('the run version')\n"


def test_exact_removes_untracked_files_but_never_ignored_ones(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    (repo / "scratch.txt").write_text("scratch\n")
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("1,2\n")
    (repo / "model.ckpt").write_bytes(b"weights")
    kept = gitexp("restore", run_id, cwd=repo)
    assert kept.returncode == 0, kept.stderr
    assert (repo / "scratch.txt").exists()
    assert "--exact" in kept.stderr
    refused = gitexp("restore", run_id, "--exact", cwd=repo)
    assert refused.returncode == 6 and "scratch.txt" in refused.stderr
    done = gitexp("restore", run_id, "--exact", "--force", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "removed scratch.txt" in done.stderr
    assert not (repo / "scratch.txt").exists()
    assert (repo / "data" / "train.csv").read_text() == "1,2\n"
    assert (repo / "model.ckpt").read_bytes() == b"weights"


def test_restore_some_paths_only(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    (repo / "train.py").write_text("print('my newer work')\n")
    (repo / "helper.py").write_text("HELPER = 2\n")
    done = gitexp("restore", run_id, "helper.py", "--force", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "helper.py").read_text() == "HELPER = 1\n"
    assert (repo / "train.py").read_text() == "print('my newer work')\n"


def test_paths_outside_the_repository_or_in_gitexp_are_refused(
    recorded: tuple[Path, str], tmp_path: Path
) -> None:
    repo, run_id = recorded
    outside = gitexp("restore", run_id, str(tmp_path), cwd=repo)
    assert outside.returncode == 2 and "outside the repository" in outside.stderr
    meta = gitexp("restore", run_id, ".gitexp/run.json", cwd=repo)
    assert meta.returncode == 2 and ".gitexp" in meta.stderr
    missing = gitexp("restore", run_id, "no-such-file", cwd=repo)
    assert missing.returncode == 2 and "not in the run" in missing.stderr


def test_head_index_and_branch_are_never_touched(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    git(repo, "add", "helper.py")
    git(repo, "commit", "-q", "-m", "later commit")
    git(repo, "checkout", "-q", "-b", "feature")
    head = git(repo, "rev-parse", "HEAD")
    index = (repo / ".git" / "index").read_bytes()
    done = gitexp("restore", run_id, "--force", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/feature"
    assert (repo / ".git" / "index").read_bytes() == index
    assert not (repo / ".gitexp").exists()


def test_folder_and_file_swaps_are_at_risk_then_restored(repo: Path) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / "cfg").write_text("file in the run\n")
    run_id = record(repo)
    remove(repo / "pkg")
    (repo / "pkg").write_text("now a file\n")
    remove(repo / "cfg")
    (repo / "cfg").mkdir()
    (repo / "cfg" / "inner.txt").write_text("now a folder\n")
    refused = gitexp("restore", run_id, cwd=repo)
    assert refused.returncode == 6
    assert "pkg" in refused.stderr and "cfg/inner.txt" in refused.stderr
    done = gitexp("restore", run_id, "--force", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert (repo / "cfg").read_text() == "file in the run\n"


def test_dry_run_changes_nothing(recorded: tuple[Path, str]) -> None:
    repo, run_id = recorded
    (repo / "train.py").write_text("print('my newer work')\n")
    before = state(repo)
    done = gitexp("restore", run_id, "--dry-run", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "write   train.py   (uncommitted work)" in done.stdout
    assert state(repo) == before


def test_unknown_run_is_an_error(repo: Path) -> None:
    done = gitexp("restore", "nosuchrun", cwd=repo)
    assert done.returncode == 5


def test_paths_are_relative_to_the_current_folder(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "mod.py").write_text("V = 1\n")
    run_id = record(repo)
    (repo / "sub" / "mod.py").write_text("V = 2\n")
    (repo / "train.py").write_text("changed\n")
    done = gitexp("restore", run_id, "mod.py", "--force", cwd=repo / "sub")
    assert done.returncode == 0, done.stderr
    assert (repo / "sub" / "mod.py").read_text() == "V = 1\n"
    assert (repo / "train.py").read_text() == "changed\n"
