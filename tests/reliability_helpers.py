"""Helpers shared by the reliability tests (faults, concurrency, hostile input, fuzzing).

Processes are found by a token unique to one test (a path in their command line), frozen
with SIGSTOP until no new one appears, then killed together with SIGKILL and reaped by
pid: the test process is a child subreaper (PR_SET_CHILD_SUBREAPER), so orphans of a
killed ``gitexp run`` come to it rather than to PID 1, which in containers may never
reap them.  Only the pids of one test are ever waited for, never ``waitpid(-1)``, so
threads running ``subprocess`` calls side by side are not disturbed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

PY = sys.executable
PREFIX = "refs/gitexp/runs/"
_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Adopt orphaned descendants for the duration of the block (Linux only)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux process control (PR_SET_CHILD_SUBREAPER)")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("cannot become a child subreaper")
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def pids_with(token: str) -> set[int]:
    """Live (not zombie) processes whose command line contains ``token``."""
    found: set[int] = set()
    needle = token.encode()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != b"Z":
            found.add(int(entry))
    return found


def freeze_and_kill(token: str) -> set[int]:
    """SIGKILL every process of ``token`` at one moment (frozen first); return their pids."""
    frozen: set[int] = set()
    while True:
        new = pids_with(token) - frozen
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            frozen.add(pid)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return frozen


def reap(pids: Iterable[int], timeout: float = 20) -> None:
    """Collect the exit status of ``pids`` (our children, or orphans adopted by us)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Not (yet) ours: still being reparented, or gone and reaped elsewhere.
                if not Path(f"/proc/{pid}").exists():
                    break
                done = 0
            if done:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"process {pid} did not exit")
            time.sleep(0.01)


def kill_leftovers(token: str) -> None:
    """Finalizer: leave nothing of a test running."""
    reap(freeze_and_kill(token))


def git(cwd: Path | str, *args: str, check: bool = True, input: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode("utf-8", "surrogateescape")


def gitexp_cmd(*args: str) -> list[str]:
    return [PY, "-m", "gitexp", *args]


def run_gitexp(
    *args: str, cwd: Path | str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        gitexp_cmd(*args),
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gitexp/runs")
    return {
        name.rsplit("/", 1)[1]: sha for name, sha in (line.split() for line in out.splitlines())
    }


def fsck_problems(repo: Path) -> str:
    """'' when ``git fsck --strict`` is clean and every ref names an existing object."""
    done = subprocess.run(
        ["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True
    )
    problems = []
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith(("dangling ", "notice:")):
            continue  # unreachable objects are allowed (git gc reclaims them)
        words = line.split()
        reflog = line.startswith("error: ") and " ".join(words[-4:-1]) == "invalid reflog entry"
        racy = reflog or (len(words) == 3 and words[0] == "missing")
        if racy and _exists(repo, words[-1]):
            # fsck scans the object folders once, then walks refs and reflogs: an object
            # a run wrote meanwhile is reported missing although it is there.  (Tests end
            # with an fsck of the quiet repository, which has no such race.)
            continue
        problems.append(line)
    if done.returncode != 0 and (problems or not done.stdout + done.stderr):
        problems.insert(0, f"fsck exit {done.returncode}")
    shas = git(repo, "for-each-ref", "--format=%(objectname)").split()
    if shas:
        check = subprocess.run(
            ["git", "cat-file", "--batch-check"],
            cwd=repo,
            input="\n".join(shas) + "\n",
            capture_output=True,
            text=True,
        )
        problems += [line for line in check.stdout.splitlines() if line.endswith(" missing")]
    return "\n".join(problems)


def _exists(repo: Path, sha: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", sha], cwd=repo, capture_output=True)
    return done.returncode == 0


def show(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


def run_json(repo: Path, rev: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(show(repo, rev, ".gitexp/run.json"))
    return result


def history_rows(repo: Path, rev: str) -> list[dict[str, Any]]:
    """Every history row a run commit holds, read with plain git."""
    names = git(repo, "ls-tree", "-r", "--name-only", rev, ".gitexp/history").split()
    rows: list[dict[str, Any]] = []
    for name in sorted(names):
        rows += [json.loads(line) for line in show(repo, rev, name).splitlines() if line]
    return rows


def tree_listing(repo: Path, rev: str) -> dict[str, tuple[str, str]]:
    """{path: (mode, sha)} of a commit's tree, ``.gitexp/`` left out."""
    out = git(repo, "ls-tree", "-r", "-z", rev)
    listing = {}
    for item in out.split("\0"):
        if not item:
            continue
        meta, path = item.split("\t", 1)
        mode, _kind, sha = meta.split()
        if not path.startswith(".gitexp/"):
            listing[path] = (mode, sha)
    return listing


def workspace_state(repo: Path) -> tuple[str, str, bytes, str]:
    """What a failed command must leave as it was: refs, status, index bytes, HEAD."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    status = git(repo, "status", "--porcelain=v1", "-z", "--ignored", "--untracked-files=all")
    index = repo / ".git" / "index"
    index_bytes = index.read_bytes() if index.exists() else b""
    head = git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False)
    return refs, status, index_bytes, head


def file_digests(root: Path) -> dict[str, tuple[int, bytes]]:
    """{path: (mode, content)} of every file in a work tree (``.git`` left out)."""
    out: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                data = os.readlink(path).encode("utf-8", "surrogateescape")
            elif not stat.S_ISREG(st.st_mode):
                data = b"<special>"  # a FIFO would block a reader forever
            else:
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    data = b"<unreadable>"
            out[os.path.relpath(path, root)] = (st.st_mode, data)
    return out


def wait_for(predicate: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository with one commit holding ``files`` (default: a tiny project)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, text in (files or {"train.py": "print('train')\n", "README": "hi\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def report(line: str) -> None:
    """A figure for docs/reliability.md, shown with ``pytest -s`` (or -rA)."""
    print(f"[reliability] {line}", flush=True)


@contextlib.contextmanager
def isolated_env(home: Path) -> Iterator[None]:
    """conftest's isolation, for module-scoped fixtures (which run before it applies)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        for name in list(os.environ):
            if name.startswith(("GITEXP_", "GIT_AUTHOR", "GIT_COMMITTER")) or name in (
                "GIT_DIR",
                "GIT_WORK_TREE",
                "GIT_INDEX_FILE",
                "RANK",
                "LOCAL_RANK",
                "WORLD_SIZE",
            ):
                patch.delenv(name, raising=False)
        (home / ".gitconfig").write_text(
            "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        )
        yield
