"""Hostile and odd input: each case is one test with its expected exit code and message,
and each checks that nothing was lost.

"Nothing lost": the work tree is byte-identical (gitexp never writes it), the index and
HEAD are untouched, every ref that existed is unchanged, a failing command creates no
run, and ``git fsck`` is clean.  Permission cases run as an unprivileged user (``nobody``
through ``setpriv``; tests run as root here, and root reads any file).  The secrets
cases plant canaries in the environment and search every object gitexp wrote.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import requires_torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    PY,
    file_digests,
    fsck_problems,
    git,
    history_rows,
    make_repo,
    run_json,
    run_refs,
    show,
    tree_listing,
    workspace_state,
)

from gitexp.model import values

SH = ["/bin/sh", "-c", "echo trained"]  # a command any user may run


# -- running gitexp, possibly as an unprivileged user ----------------------------------------


def _nobody_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []  # already unprivileged: permission bits apply as they are
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop root's privileges")
    command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run(
        [*command, sys.executable, "-c", "import gitexp"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        # e.g. a virtual environment inside root's 0700 home: the unprivileged user cannot
        # import gitexp at all, which says nothing about gitexp (.ci/run makes its venv 0755).
        pytest.skip(f"user nobody cannot import gitexp from {sys.executable}")
    return command


def gitexp_as(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    prefix = _nobody_prefix() if nobody else []
    return subprocess.run(
        [*prefix, PY, "-m", "gitexp", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def nobody_base(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder the unprivileged user owns (pytest's own folders are root's, mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="gitexp-hostile-"))
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Nobody\n\temail = nobody@example.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    # git refuses repositories another user owns unless told otherwise (command-line config).
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "*")
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(dirpath, name), 0o755, follow_symlinks=False)
        shutil.rmtree(base, ignore_errors=True)


def give_to_nobody(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "-h", "nobody:nogroup", str(path)], check=True)


# -- one case: setup, command, expected exit code and message, nothing lost ---------------------


@dataclass
class Case:
    id: str
    args: list[str]
    exit_code: int
    fragments: tuple[str, ...] = ()
    setup: Callable[[Path, Path], Path | None] | None = None  # (repo, tmp) -> cwd
    records: bool = False  # a run is expected
    check: Callable[[Path, str, subprocess.CompletedProcess[str]], None] | None = None
    nobody: bool = False
    env: dict[str, str] = field(default_factory=dict)


def run_case(case: Case, repo: Path, tmp_path: Path) -> None:
    cwd = (case.setup(repo, tmp_path) if case.setup else None) or repo
    is_repo = (repo / ".git").is_dir()
    state = workspace_state(repo) if is_repo else None
    files = file_digests(repo)
    refs = run_refs(repo) if is_repo else {}
    all_refs = git(repo, "for-each-ref") if is_repo else ""
    args = [str(tmp_path / a[4:]) if a.startswith("TMP:") else a for a in case.args]

    done = gitexp_as(args, cwd, case.env, nobody=case.nobody)

    assert done.returncode == case.exit_code, done.stderr
    for fragment in case.fragments:
        assert fragment in done.stderr, (fragment, done.stderr)
    assert "Traceback" not in done.stderr
    if case.exit_code not in (0, 1):
        assert done.stderr.startswith("gitexp: error: ") or "gitexp: error: " in done.stderr
    # Nothing lost.
    assert file_digests(repo) == files, "the work tree changed"
    if not is_repo:
        return
    after = workspace_state(repo)
    assert after[1:] == state[1:] if state else True  # status, index bytes, HEAD
    new = set(run_refs(repo)) - set(refs)
    for run_id, sha in refs.items():
        assert run_refs(repo)[run_id] == sha
    if case.records:
        assert len(new) == 1, new
        ref = f"refs/gitexp/runs/{new.pop()}"
        assert run_json(repo, ref)["status"] in ("finished", "failed")
        if case.check:
            case.check(repo, ref, done)
    else:
        assert not new
        assert git(repo, "for-each-ref") == all_refs
        if case.check:
            case.check(repo, "", done)
    problems = fsck_problems(repo)
    assert not problems, problems


def record_check(expected: dict[str, tuple[str, bytes]]) -> Callable[..., None]:
    """The run's tree holds each ``path: (mode, content)``."""

    def check(repo: Path, ref: str, _done: Any) -> None:
        listing = tree_listing(repo, ref)
        for path, (mode, content) in expected.items():
            assert listing[path][0] == mode, path
            blob = subprocess.run(
                ["git", "cat-file", "blob", listing[path][1]], cwd=repo, capture_output=True
            ).stdout
            assert blob == content, path

    return check


def skipped(repo: Path, ref: str) -> dict[str, str]:
    data = json.loads(show(repo, ref, ".gitexp/snapshot.json"))
    return {item["path"]: item["reason"] for item in data["skipped"]}


# -- setups -------------------------------------------------------------------------------------


def not_a_repo(repo: Path, tmp: Path) -> Path:
    plain = tmp / "plain"
    plain.mkdir()
    if subprocess.run(["git", "rev-parse"], cwd=plain, capture_output=True).returncode == 0:
        pytest.skip("the temporary folder is inside a git repository")
    return plain


def bare(repo: Path, tmp: Path) -> Path:
    target = tmp / "bare.git"
    git(tmp, "clone", "-q", "--bare", str(repo), str(target))
    return target


def inside_dot_git(repo: Path, tmp: Path) -> Path:
    return repo / ".git" / "refs"


def unborn(repo: Path, tmp: Path) -> Path:
    fresh = tmp / "unborn"
    fresh.mkdir()
    git(fresh, "init", "-q")
    (fresh / "train.py").write_text("print('first')\n")
    return fresh


def detached(repo: Path, tmp: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD")
    (repo / "train.py").write_text("print('edited on a detached HEAD')\n")


def submodule(repo: Path, tmp: Path) -> None:
    lib = make_repo(tmp / "lib", {"lib.py": "x = 1\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-q", "-m", "add a submodule")
    (repo / "lib" / "lib.py").write_text("x = 2  # a change inside the submodule\n")


def check_submodule(repo: Path, ref: str, _done: Any) -> None:
    listing = tree_listing(repo, ref)
    head = git(repo / "lib", "rev-parse", "HEAD").strip()
    assert listing["lib"] == ("160000", head)
    assert not any(path.startswith("lib/") for path in listing)


OUTSIDE_CANARY = "outside-canary-4b1d9e"


def symlinks(repo: Path, tmp: Path) -> None:
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(OUTSIDE_CANARY + "\n")
    os.symlink("train.py", repo / "inside-link")
    os.symlink(str(outside / "secret.txt"), repo / "outside-file")
    os.symlink(str(outside), repo / "outside-dir")
    os.symlink("../../outside/secret.txt", repo / "relative-escape")
    os.symlink("loop", repo / "loop")  # a link to itself
    os.symlink("nowhere/at/all", repo / "dangling")


def check_symlinks(repo: Path, ref: str, _done: Any) -> None:
    record_check(
        {
            "inside-link": ("120000", b"train.py"),
            "outside-file": ("120000", str(repo.parent / "outside" / "secret.txt").encode()),
            "outside-dir": ("120000", str(repo.parent / "outside").encode()),
            "relative-escape": ("120000", b"../../outside/secret.txt"),
            "loop": ("120000", b"loop"),
            "dangling": ("120000", b"nowhere/at/all"),
        }
    )(repo, ref, _done)
    assert not any(p.startswith("outside-dir/") for p in tree_listing(repo, ref))
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True
    ).stdout
    assert OUTSIDE_CANARY.encode() not in objects  # a link is stored, never followed


ODD_NAMES = [
    b"name with spaces.txt",
    "non-ascii é ü 日本語 🚀.txt".encode(),
    b"new\nline.txt",
    b"tab\there.txt",
    b"-rf",
    b"--help",
    b"quote\"s and 'single'.txt",
    b"back\\slash.txt",
    b"star*question?[bracket].txt",
    b"not-utf8-\xff\xfe.txt",
    b" leading and trailing space ",
]


def odd_names(repo: Path, tmp: Path) -> None:
    root = os.fsencode(repo)
    for i, name in enumerate(ODD_NAMES):
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(b"content %d\n" % i)
    os.mkdir(os.path.join(root, b"dir \xe2\x80\x94 with\nnewline"))
    with open(os.path.join(root, b"dir \xe2\x80\x94 with\nnewline", b"inner"), "wb") as handle:
        handle.write(b"inner\n")


def check_odd_names(repo: Path, ref: str, _done: Any) -> None:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-z", ref], cwd=repo, capture_output=True
    ).stdout.split(b"\0")
    names = {item.split(b"\t", 1)[1]: item.split()[2] for item in out if item}
    for i, name in enumerate(ODD_NAMES):
        blob = subprocess.run(
            ["git", "cat-file", "blob", names[name].decode()], cwd=repo, capture_output=True
        ).stdout
        assert blob == b"content %d\n" % i, name
    assert b"dir \xe2\x80\x94 with\nnewline/inner" in names
    snap = json.loads(show(repo, ref, ".gitexp/snapshot.json"))
    assert snap["untracked"] == len(ODD_NAMES) + 1


def special_files(repo: Path, tmp: Path) -> None:
    os.mkfifo(repo / "a-fifo")  # opening it would block forever
    (repo / ".gitexp").write_text("a file where gitexp's folder goes\n")
    (repo / "empty-dir").mkdir()


def check_special(repo: Path, ref: str, _done: Any) -> None:
    assert skipped(repo, ref) == {"a-fifo": "special", ".gitexp": "reserved"}
    assert json.loads(show(repo, ref, ".gitexp/run.json"))["status"] == "finished"


def stale_index_lock(repo: Path, tmp: Path) -> None:
    (repo / ".git" / "index.lock").write_text("")  # another git command is running
    (repo / "train.py").write_text("print('edited while git holds the index')\n")


def check_stale_index_lock(repo: Path, ref: str, _done: Any) -> None:
    assert show(repo, ref, "train.py") == "print('edited while git holds the index')\n"
    assert (repo / ".git" / "index.lock").exists()  # left for its owner


def bad_max_size(repo: Path, tmp: Path) -> None:
    (repo / "medium.bin").write_bytes(b"x" * 4096)


# 9 levels of 9 aliases: 342 bytes that expand to 387 million values.
CONFIG_BOMB = (
    'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
).encode()


def check_merged_config(repo: Path, ref: str) -> None:
    """A user's anchors and merges are expanded; the run's config.yaml holds none."""
    text = show(repo, ref, ".gitexp/config.yaml")
    assert "&" not in text and "*" not in text and "<<" not in text, text
    assert "run:\n  lr: 1\n  depth: 2\n" in text, text


def write_config(name: str, content: bytes) -> Callable[[Path, Path], None]:
    def setup(repo: Path, tmp: Path) -> None:
        (tmp / name).write_bytes(content)

    return setup


def config_dir(repo: Path, tmp: Path) -> None:
    (tmp / "conf.yaml").mkdir()


def unreadable_config(repo: Path, tmp: Path) -> None:
    (repo / "conf.yaml").write_text("lr: 0.1\n")
    os.chmod(repo / "conf.yaml", 0)
    give_to_nobody(repo)


def unreadable_files(repo: Path, tmp: Path) -> None:
    (repo / "private.txt").write_text("untracked, unreadable\n")
    os.chmod(repo / "private.txt", 0)
    (repo / "train.py").write_text("print('edited, then made unreadable')\n")
    os.chmod(repo / "train.py", 0)
    (repo / "closed").mkdir()
    (repo / "closed" / "inside.txt").write_text("in a folder nobody may list\n")
    os.chmod(repo / "closed", 0)
    give_to_nobody(repo)


def check_unreadable(repo: Path, ref: str, done: subprocess.CompletedProcess[str]) -> None:
    assert skipped(repo, ref) == {"private.txt": "unreadable"}
    assert "could not read tracked file train.py" in done.stderr
    assert "could not read folder closed" in done.stderr
    assert show(repo, ref, "train.py").startswith("import gitexp")  # its staged version


def read_only_repo(repo: Path, tmp: Path) -> None:
    give_to_nobody(repo)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "root:root", str(repo / ".git")], check=True)
    else:
        os.chmod(repo / ".git", 0o555)


def where_injection(repo: Path, tmp: Path) -> None:
    subprocess.run([PY, "-m", "gitexp", "run", "--", *SH], cwd=repo, capture_output=True)


def check_no_pwned(repo: Path, ref: str, _done: Any) -> None:
    assert not (repo / "pwned").exists()


def newline_name_check(repo: Path, ref: str, _done: Any) -> None:
    listed = subprocess.run(
        [PY, "-m", "gitexp", "ls", "--json"], cwd=repo, capture_output=True, text=True
    )
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "two\nlines\ngitexp-run: {}"
    assert row["status"] == "finished"
    assert run_json(repo, ref)["command"] == ["/bin/sh", "-c", "echo one\necho two"]


CASES = [
    Case("not-a-repository", ["run", "--", *SH], 3, ("not inside a git repository", "git init"),
         setup=not_a_repo),
    Case("bare-repository", ["run", "--", *SH], 3, ("bare git repository",), setup=bare),
    Case("inside-the-git-folder", ["run", "--", *SH], 3, ("inside the .git folder",),
         setup=inside_dot_git),
    Case("unborn-head", ["run", "--", *SH], 0, setup=unborn),
    Case("detached-head", ["run", "--", *SH], 0, setup=detached, records=True,
         check=lambda r, ref, d: run_json(r, ref)["branch"] is None),
    Case("submodule", ["run", "--", *SH], 0, setup=submodule, records=True,
         check=check_submodule),
    Case("symlinks-inside-and-outside", ["run", "--", *SH], 0, setup=symlinks, records=True,
         check=check_symlinks),
    Case("odd-file-names", ["run", "--", *SH], 0, setup=odd_names, records=True,
         check=check_odd_names),
    Case("fifo-and-reserved-name", ["run", "--", *SH], 0, setup=special_files, records=True,
         check=check_special),
    Case("index-locked-by-git", ["run", "--", *SH], 0, setup=stale_index_lock, records=True,
         check=check_stale_index_lock),
    Case("garbage-max-file-size", ["run", "--", *SH], 0, setup=bad_max_size, records=True,
         env={"GITEXP_MAX_FILE_SIZE": "lots"},
         check=lambda r, ref, d: show(r, ref, "medium.bin") == "x" * 4096),
    Case("unreadable-files-and-folder", ["run", "--", *SH], 0, setup=unreadable_files,
         records=True, nobody=True, check=check_unreadable),
    Case("invalid-yaml", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("invalid YAML", "line 2"), setup=write_config("c.yaml", b"lr: 0.1\n  depth: [\n")),
    Case("invalid-json", ["run", "--config", "TMP:c.json", "--", *SH], 4,
         ("invalid JSON", "line 1"), setup=write_config("c.json", b'{"lr": 0.1,}')),
    Case("non-string-config-keys", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("not a string",), setup=write_config("c.yaml", b"1: one\nnull: two\n")),
    Case("config-top-level-list", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("mapping",), setup=write_config("c.yaml", b"- 1\n- 2\n")),
    Case("config-not-utf8", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("not UTF-8",), setup=write_config("c.yaml", b"name: caf\xe9\n")),
    Case("config-alias-bomb", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("expand to more than 100,000 values",), setup=write_config("c.yaml", CONFIG_BOMB)),
    Case("config-recursive-alias", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("refers to a node that contains it",), setup=write_config("c.yaml", b"a: &a [*a]\n")),
    Case("config-anchors-and-merge-keys", ["run", "--config", "TMP:c.yaml", "--", *SH], 0,
         records=True, check=lambda repo, ref, _done: check_merged_config(repo, ref),
         setup=write_config("c.yaml", b"base: &b {lr: 1}\nrun:\n  <<: *b\n  depth: 2\n")),
    Case("config-python-tag", ["run", "--config", "TMP:c.yaml", "--", *SH], 4,
         ("invalid YAML",),
         setup=write_config("c.yaml", b"a: !!python/object/apply:os.system ['touch pwned']\n"),
         check=check_no_pwned),
    Case("config-is-a-folder", ["run", "--config", "TMP:conf.yaml", "--", *SH], 4,
         ("directory",), setup=config_dir),
    Case("config-unreadable", ["run", "--config", "conf.yaml", "--", *SH], 4,
         ("cannot read config file", "Permission denied"), setup=unreadable_config,
         nobody=True),
    Case("param-without-equals", ["run", "-p", "lr", "--", *SH], 2, ("missing '='",)),
    Case("param-empty-key", ["run", "-p", "=1", "--", *SH], 2, ("empty key",)),
    Case("param-empty-dotted-part", ["run", "-p", "a..b=1", "--", *SH], 2, ("empty part",)),
    Case("param-bad-flow-value", ["run", "-p", "x=[1, 2", "--", *SH], 2, ("x=[1, 2",)),
    Case("where-is-never-executed", ["ls", "--where", "__import__('os').system('touch pwned')"],
         2, ("invalid --where expression",), setup=where_injection, check=check_no_pwned),
    Case("name-and-command-with-newlines",
         ["run", "--name", "two\nlines\ngitexp-run: {}", "--", "/bin/sh", "-c",
          "echo one\necho two"], 0, records=True, check=newline_name_check),
    Case("command-not-found", ["run", "--", "/no/such/program-4711"], 127,
         ("could not start",), records=True,
         check=lambda r, ref, d: run_json(r, ref)["exit_code"] == 127),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(case: Case, repo: Path, tmp_path: Path, request: Any) -> None:
    if case.nobody:
        base = request.getfixturevalue("nobody_base")
        repo = make_repo(base / "repo", {"train.py": "import gitexp\n", "README": "hi\n"})
        tmp_path = base
    run_case(case, repo, tmp_path)
    if case.id == "unborn-head":
        fresh = tmp_path / "unborn"
        (run_id,) = run_refs(fresh)
        info = run_json(fresh, f"refs/gitexp/runs/{run_id}")
        assert info["baseline"] is None and info["status"] == "finished"
        assert show(fresh, f"refs/gitexp/runs/{run_id}", "train.py") == "print('first')\n"
        assert not fsck_problems(fresh)


def test_read_only_repository_is_a_clear_error(nobody_base: Path) -> None:
    repo = make_repo(nobody_base / "repo")
    run_case(
        Case("read-only-repository", ["run", "--", *SH], 6, ("Permission denied",),
             setup=read_only_repo, nobody=True),
        repo,
        nobody_base,
    )  # fmt: skip


def test_read_only_repository_still_lists_and_shows(nobody_base: Path) -> None:
    repo = make_repo(nobody_base / "repo")
    assert gitexp_as(["run", "--", *SH], repo).returncode == 0
    (run_id,) = run_refs(repo)
    (repo / ".git" / "gitexp").chmod(0o755)
    read_only_repo(repo, nobody_base)
    for args in (["ls"], ["ls", "--json"], ["show", run_id], ["diff", run_id, run_id]):
        done = gitexp_as(args, repo, nobody=True)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr


# -- a file deleted or made unreadable while the snapshot reads it -----------------------------

# Runs ``gitexp run`` in a process whose snapshot reader first removes (or locks) the file
# it is about to read: the window between listing a folder and reading a file, made certain.
RACE = """
import os, sys
from gitexp.record import snapshot
from gitexp import cli
target, how = sys.argv[1].encode(), sys.argv[2]
real = snapshot._read
def racing_read(abspath, mode):
    if abspath.endswith(target):
        if how == "delete":
            os.unlink(abspath)
        else:
            os.chmod(abspath, 0)
    return real(abspath, mode)
snapshot._read = racing_read
sys.exit(cli.main(["run", "--", "/bin/sh", "-c", "echo trained"]))
"""


@pytest.mark.parametrize(
    ("target", "how", "tracked"),
    [
        ("notes.txt", "delete", False),
        ("train.py", "delete", True),
        ("notes.txt", "unreadable", False),
        ("train.py", "unreadable", True),
    ],
)
def test_file_removed_or_locked_during_the_snapshot(
    nobody_base: Path, target: str, how: str, tracked: bool
) -> None:
    repo = make_repo(nobody_base / "repo", {"train.py": "print('committed')\n"})
    (repo / "notes.txt").write_text("untracked notes\n")
    (repo / "train.py").write_text("print('edited')\n")
    give_to_nobody(repo)
    index = (repo / ".git" / "index").read_bytes()
    done = subprocess.run(
        [*(_nobody_prefix() if how == "unreadable" else []), PY, "-c", RACE, target, how],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (run_id,) = run_refs(repo)
    ref = f"refs/gitexp/runs/{run_id}"
    listing = tree_listing(repo, ref)
    snap = json.loads(show(repo, ref, ".gitexp/snapshot.json"))
    if how == "delete":
        assert target not in listing  # as `git add -A` after the deletion would see it
        if tracked:
            assert snap["deleted"] == 1 and run_json(repo, ref)["dirty"]
    elif tracked:
        assert show(repo, ref, target) == "print('committed')\n"  # the staged version
        assert f"could not read tracked file {target}" in done.stderr
    else:
        assert {i["path"]: i["reason"] for i in snap["skipped"]} == {target: "unreadable"}
        assert f"left out {target}: Permission denied" in done.stderr
    assert (repo / ".git" / "index").read_bytes() == index
    assert not fsck_problems(repo)


# -- a huge file ---------------------------------------------------------------------------------

HUGE = 64 << 30  # sparse: no disk used, yet too large to hash before the run ends


@pytest.fixture(scope="module")
def huge_file_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from reliability_helpers import isolated_env

    base = tmp_path_factory.mktemp("huge")
    with isolated_env(tmp_path_factory.mktemp("home")):
        repo = make_repo(base / "repo")
        with open(repo / "weights.bin", "wb") as handle:
            handle.truncate(HUGE)
        files = file_digests_without(repo, "weights.bin")
        started = time.monotonic()
        done = gitexp_as(["run", "--", *SH], repo)
        elapsed = time.monotonic() - started
        (run_id,) = run_refs(repo)
        ref = f"refs/gitexp/runs/{run_id}"
        return {
            "done": done,
            "elapsed": elapsed,
            "snapshot": json.loads(show(repo, ref, ".gitexp/snapshot.json")),
            "listing": tree_listing(repo, ref),
            "unchanged": file_digests_without(repo, "weights.bin") == files,
            "size": os.stat(repo / "weights.bin").st_size,
            "problems": fsck_problems(repo),
            "objects": git(repo, "count-objects", "-v"),
        }


def file_digests_without(repo: Path, name: str) -> dict[str, Any]:
    (repo / name).rename(repo.parent / name)
    try:
        return file_digests(repo)
    finally:
        (repo.parent / name).rename(repo / name)


def test_a_huge_file_is_left_out_and_listed(huge_file_run: dict[str, Any]) -> None:
    done = huge_file_run["done"]
    assert done.returncode == 0, done.stderr
    assert "weights.bin" not in huge_file_run["listing"]
    (item,) = huge_file_run["snapshot"]["skipped"]
    assert item["path"] == "weights.bin" and item["reason"] == "too-large"
    assert item["size"] == HUGE == huge_file_run["size"]
    assert huge_file_run["unchanged"]
    assert not huge_file_run["problems"]
    size_kib = sum(
        int(line.split()[1])
        for line in huge_file_run["objects"].splitlines()
        if line.startswith(("size:", "size-pack:"))
    )
    assert size_kib < 1024  # nothing of it reached git


def test_a_huge_file_does_not_delay_the_end_of_a_run(huge_file_run: dict[str, Any]) -> None:
    assert huge_file_run["elapsed"] < 5


# -- metrics a script should not log, but does --------------------------------------------------

METRICS_SCRIPT = """
import math, sys, warnings
import numpy as np
try:  # torch's scalars are checked where torch is installed (CI installs its CPU build)
    import torch
except ImportError:
    torch = None
import gitexp
warnings.simplefilter("always")
gitexp.init()
gitexp.log({"_step": 99, "_time": 1.0, "_runtime": 2.0, "ok": 1})
gitexp.log({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "big": 1e308, "tiny": 5e-324})
gitexp.log({"train": {"loss": 0.5, "acc": {"top1": 0.25}}, "empty": {}})
gitexp.log({"f32": np.float32(0.5), "i64": np.int64(3), "b": np.bool_(True),
            "z": np.array(1.5), "list": [np.float64(1.0), math.nan],
            **({"t": torch.tensor(2.5), "ti": torch.tensor(7),
                "tlist": [torch.tensor(2.0), np.float64(1.0)]} if torch else {})})
gitexp.log({"obj": object(), "set": {1, 2}, "vec": np.zeros(3), "c": 1j, "keep": 2})
gitexp.log({1: 0.5, None: 2, ("a", "b"): 3, 2.5: 4})
gitexp.log({"long": "x" * 40000})
gitexp.log({"deep": {"a": {"b": {"c": {"d": {"e": 1}}}}}})
try:
    gitexp.log([("loss", 1.0)])
except TypeError as exc:
    print("TypeError:", exc, file=sys.stderr)
gitexp.log({"last": 1}, step=100)
gitexp.log({"back": 1}, step=5)
gitexp.finish()
"""


@pytest.fixture(scope="module")
def metrics_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from reliability_helpers import isolated_env

    base = tmp_path_factory.mktemp("metrics")
    with isolated_env(tmp_path_factory.mktemp("home")):
        repo = make_repo(base / "repo")
        script = base / "odd_metrics.py"
        script.write_text(METRICS_SCRIPT)
        files = file_digests(repo)
        done = gitexp_as(["run", "--", PY, str(script)], repo)
        (run_id,) = run_refs(repo)
        ref = f"refs/gitexp/runs/{run_id}"
        metrics_text = show(repo, ref, ".gitexp/metrics.json")
        listed = gitexp_as(["ls", "--json"], repo)
        shown = gitexp_as(["show", run_id], repo)
        return {
            "done": done,
            "rows": [
                values.loads(line)
                for name in git(
                    repo, "ls-tree", "-r", "--name-only", ref, ".gitexp/history"
                ).split()
                for line in show(repo, ref, name).splitlines()
            ],
            "raw_rows": history_rows(repo, ref),
            "metrics_text": metrics_text,
            "listed": listed,
            "shown": shown,
            "unchanged": file_digests(repo) == files,
            "problems": fsck_problems(repo),
        }


def test_metrics_reserved_keys_are_dropped_with_a_warning(metrics_run: dict[str, Any]) -> None:
    done = metrics_run["done"]
    assert done.returncode == 0, done.stderr
    assert "'_step' is reserved by gitexp" in done.stderr
    first = metrics_run["rows"][0]
    assert first["_step"] == 0 and first["ok"] == 1 and first["_time"] != 1.0


def test_metrics_nan_and_infinities_round_trip(metrics_run: dict[str, Any]) -> None:
    row = metrics_run["rows"][1]
    assert math.isnan(row["nan"]) and row["inf"] == math.inf and row["ninf"] == -math.inf
    assert row["big"] == 1e308 and row["tiny"] == 5e-324
    json.loads(metrics_run["metrics_text"], parse_constant=_reject)  # strict JSON
    for line in metrics_run["raw_rows"]:
        json.dumps(line, allow_nan=False)


def _reject(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name}")


def test_metrics_nested_dicts_are_flattened(metrics_run: dict[str, Any]) -> None:
    row = metrics_run["rows"][2]
    assert row["train/loss"] == 0.5 and row["train/acc/top1"] == 0.25
    assert "empty" not in row
    assert metrics_run["rows"][7]["deep/a/b/c/d/e"] == 1


def test_metrics_numpy_scalars_are_numbers(metrics_run: dict[str, Any]) -> None:
    row = metrics_run["rows"][3]
    assert row["f32"] == 0.5 and type(row["f32"]) is float
    assert row["i64"] == 3 and type(row["i64"]) is int
    assert row["b"] is True
    assert row["z"] == 1.5
    assert row["list"][0] == 1.0 and math.isnan(row["list"][1])


@requires_torch
def test_metrics_torch_scalars_are_numbers(metrics_run: dict[str, Any]) -> None:
    row = metrics_run["rows"][3]
    assert row["t"] == 2.5 and type(row["t"]) is float
    assert row["ti"] == 7 and type(row["ti"]) is int
    assert row["tlist"] == [2.0, 1.0]


def test_metrics_that_cannot_be_stored_are_dropped_with_a_warning(
    metrics_run: dict[str, Any],
) -> None:
    stderr = metrics_run["done"].stderr
    for key in ("obj", "set", "vec", "c"):
        assert f"for '{key}'" in stderr and "it was dropped" in stderr, key
    row = metrics_run["rows"][4]
    assert row["keep"] == 2 and not {"obj", "set", "vec", "c"} & set(row)


def test_metrics_non_string_keys_become_strings(metrics_run: dict[str, Any]) -> None:
    row = metrics_run["rows"][5]
    assert row["1"] == 0.5 and row["None"] == 2 and row["('a', 'b')"] == 3 and row["2.5"] == 4


def test_metrics_huge_values_keep_the_listing_readable(metrics_run: dict[str, Any]) -> None:
    assert metrics_run["rows"][6]["long"] == "x" * 40000
    listed = metrics_run["listed"]
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row.get("truncated") is True  # the 32 KiB listing row falls back to the files
    assert metrics_run["shown"].returncode == 0, metrics_run["shown"].stderr


def test_metrics_misuse_is_an_exception_or_a_warning_never_lost_data(
    metrics_run: dict[str, Any],
) -> None:
    stderr = metrics_run["done"].stderr
    assert "TypeError: gitexp.log() takes a dict of metrics" in stderr
    assert "step 5 is before the current step" in stderr
    assert metrics_run["rows"][-1]["_step"] == 100 and "back" not in metrics_run["rows"][-1]
    assert [r["_step"] for r in metrics_run["rows"]] == [*range(8), 100]
    assert metrics_run["unchanged"] and not metrics_run["problems"]


# -- run references -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Runs named twin (twice) and solo, one in a newer format, one with a damaged run.json."""
    from reliability_helpers import isolated_env

    base = tmp_path_factory.mktemp("refs")
    with isolated_env(tmp_path_factory.mktemp("home")):
        repo = make_repo(base / "repo")
        ids = {}
        for name in ("twin", "twin", "solo"):
            before = set(run_refs(repo))
            done = gitexp_as(["run", "--name", name, "--", *SH], repo)
            assert done.returncode == 0, done.stderr
            (ids[name if name not in ids else "twin2"],) = set(run_refs(repo)) - before
        solo = ids["solo"]
        ids["newer"] = "zzzzzzzzzzzz"
        ids["corrupt"] = "yyyyyyyyyyyy"
        craft(repo, solo, ids["newer"], lambda info: {**info, "format": 99}, 99)
        craft(repo, solo, ids["corrupt"], lambda info: "{this is not json", 1)
        for twin_prefix in ("aaaaaaaaaaa1", "aaaaaaaaaaa2"):  # share the prefix "aaaa"
            craft(repo, solo, twin_prefix, lambda info: info, 1)
        yield {"repo": repo, "ids": ids}


def craft(repo: Path, source: str, new_id: str, edit: Callable[[Any], Any], fmt: int) -> None:
    """A run commit like ``source``'s, with its run.json edited and its id changed."""
    ref = f"refs/gitexp/runs/{source}"
    original = run_json(repo, ref)
    info_name = original["name"]
    info = edit(original)
    text = json.dumps(dict(info, id=new_id, name=new_id)) if isinstance(info, dict) else info
    blob = git(repo, "hash-object", "-w", "--stdin", input=text.encode()).strip()
    meta = git(repo, "ls-tree", f"{ref}:.gitexp").replace(
        git(repo, "rev-parse", f"{ref}:.gitexp/run.json").strip(), blob
    )
    meta_tree = git(repo, "mktree", input=meta.encode()).strip()
    root = git(repo, "ls-tree", ref).replace(git(repo, "rev-parse", f"{ref}:.gitexp").strip(),
                                             meta_tree)  # fmt: skip
    tree = git(repo, "mktree", input=root.encode()).strip()
    message = git(repo, "log", "-1", "--format=%B", ref)
    message = message.replace(source, new_id).replace('"format":1,', f'"format":{fmt},')
    message = message.replace(f'"name":"{info_name}"', f'"name":"{new_id}"')
    commit = git(repo, "commit-tree", tree, "-p", ref, "-m", message).strip()
    git(repo, "update-ref", f"refs/gitexp/runs/{new_id}", commit)


REFERENCE_CASES = [
    ("unknown", ["show", "no-such-run"], 5, "no run matches 'no-such-run'"),
    ("unknown-in-diff", ["diff", "solo", "nope"], 5, "no run matches 'nope'"),
    ("ambiguous-name", ["show", "twin"], 5, "'twin' matches 2 runs by name"),
    ("ambiguous-prefix", ["show", "aaaa"], 5, "'aaaa' matches 2 runs by id prefix"),
    ("empty", ["show", ""], 5, "an empty run reference"),
    ("latest-beyond-the-oldest", ["show", "latest~99"], 5, "there are only 7 runs"),
    ("rm-ambiguous-deletes-nothing", ["rm", "solo", "twin"], 5, "'twin' matches 2 runs"),
    ("newer-format", ["show", "{newer}"], 7, "format 99"),
    ("newer-format-in-diff", ["diff", "solo", "{newer}"], 7, "Upgrade gitexp"),
    ("corrupted-run-json", ["show", "{corrupt}"], 7, "corrupted metadata"),
    ("tag-corrupted-run", ["tag", "{corrupt}", "+x"], 7, "run.json"),
    ("note-corrupted-run", ["note", "{corrupt}", "text"], 7, "run.json"),
]


@pytest.mark.parametrize(
    ("args", "exit_code", "fragment"),
    [
        pytest.param(
            *case[1:],
            id=case[0],
            marks=[],
        )
        for case in REFERENCE_CASES
    ],
)
def test_bad_run_references(
    runs_repo: dict[str, Any], args: list[str], exit_code: int, fragment: str
) -> None:
    repo, ids = runs_repo["repo"], runs_repo["ids"]
    fill = {"{newer}": ids["newer"], "{corrupt}": ids["corrupt"]}
    args = [fill.get(a, a) for a in args]
    before = git(repo, "for-each-ref")
    files = file_digests(repo)

    done = gitexp_as(args, repo)

    assert done.returncode == exit_code, done.stderr
    assert fragment in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert git(repo, "for-each-ref") == before
    assert file_digests(repo) == files
    listed = gitexp_as(["ls", "--json"], repo)
    # Every run is listed, or named in one warning once a command found it quarantined.
    quarantined = listed.stderr.count("skipped quarantined run")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) + quarantined == 7


# -- a git remote that rejects the push, an unreachable DVC remote -------------------------------


def _push_command() -> list[str] | None:
    from gitexp.cli import COMMANDS

    return ["push", "origin"] if "push" in COMMANDS else None


def test_a_remote_that_rejects_the_push_loses_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'rejected by policy-4711' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(repo, "remote", "add", "origin", str(remote))
    assert gitexp_as(["run", "--", *SH], repo).returncode == 0
    refs = run_refs(repo)
    files = file_digests(repo)
    command = _push_command()
    if command is not None:
        done = gitexp_as(command, repo)
        assert done.returncode == 9 and "Traceback" not in done.stderr  # EXIT_TRANSFER
        assert "rejected by policy-4711" in done.stderr
        assert "pre-receive hook declined" in done.stdout
    else:  # before `gitexp push`: runs are shared with plain git
        done = subprocess.run(
            ["git", "push", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*"],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1 and "rejected by policy-4711" in done.stderr
    assert run_refs(repo) == refs and file_digests(repo) == files
    assert run_refs(remote) == {}
    listed = gitexp_as(["ls", "--json"], repo)
    assert [row["id"] for row in json.loads(listed.stdout)] == list(refs)
    assert not fsck_problems(repo)


@pytest.mark.slow
def test_an_unreachable_dvc_remote_loses_nothing(tmp_path: Path) -> None:
    """The run's artifact cannot reach the DVC remote: the push fails for that run (its ref
    never reaches the git remote before its files), nothing local changes, and once the
    remote is reachable the same command pushes everything."""
    from gitexp.cli import COMMANDS

    if "push" not in COMMANDS:
        pytest.skip("gitexp has no `push` (artifacts to a DVC remote) yet")
    repo = make_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    dvc = [PY, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q"], cwd=repo, check=True, capture_output=True)
    unreachable = tmp_path / "not-a-folder"
    unreachable.write_text("a file where the remote's folder should be\n")
    subprocess.run(
        [*dvc, "remote", "add", "-d", "gone", str(unreachable / "dvc")],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    git(repo, "add", ".dvc", ".dvcignore")
    git(repo, "commit", "-q", "-m", "DVC with an unreachable remote")
    make = "mkdir -p checkpoints && echo weights > checkpoints/model.pt"
    done = gitexp_as(["run", "--out", "checkpoints", "--", "/bin/sh", "-c", make], repo)
    assert done.returncode == 0, done.stderr
    refs = run_refs(repo)
    files = file_digests(repo)

    pushed = gitexp_as(["push", "origin"], repo)

    output = pushed.stdout + pushed.stderr
    assert pushed.returncode == 9, output
    assert "failed" in output and "not uploaded" in output and "Not a directory" in output
    assert "Traceback" not in output
    assert run_refs(remote) == {}  # never a run whose files are missing
    assert run_refs(repo) == refs and file_digests(repo) == files
    assert not fsck_problems(repo)
    reachable = tmp_path / "store"
    subprocess.run([*dvc, "remote", "modify", "gone", "url", str(reachable)], cwd=repo, check=True)
    again = gitexp_as(["push", "origin"], repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert run_refs(remote) == refs
    assert any(reachable.rglob("*")), "the artifact reached the DVC remote"


# -- secrets ---------------------------------------------------------------------------------------

CANARIES = {
    "GITEXP_CANARY_TOKEN": "canary-env-9d41c7",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-2f8e61b0",
    "DATABASE_URL": "postgres://u:canary-db-77aa31@h/db",
    "CUDA_VISIBLE_DEVICES": "0",  # allow-listed: recorded, so the search is known to work
}

SECRET_SCRIPT = """
import os, sys
import gitexp
run = gitexp.init(config={"lr": 0.1})
gitexp.log({"loss": 0.5})
print("training; HOME is set")
gitexp.finish()
"""


def _all_objects(repo: Path) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True
    ).stdout


def _assert_no_canary(repo: Path) -> None:
    objects = _all_objects(repo)
    assert b"CUDA_VISIBLE_DEVICES" in objects
    for name, value in CANARIES.items():
        if name != "CUDA_VISIBLE_DEVICES":
            assert value.encode() not in objects, name
    for path in (repo / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name, value in CANARIES.items():
                if name != "CUDA_VISIBLE_DEVICES":
                    assert value.encode() not in data, (name, path)


def test_no_environment_value_reaches_git_through_rerun_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_format.py covers gitexp run and a direct script; this adds the other
    writers of objects: gitexp rerun (a new run from an isolated checkout), gitexp
    restore --stash (a commit of the work tree), tag/note/rename (edit commits)."""
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text(SECRET_SCRIPT)
    assert gitexp_as(["run", "--", PY, "train.py"], repo).returncode == 0
    (run_id,) = run_refs(repo)
    rerun = gitexp_as(["rerun", run_id], repo)
    assert rerun.returncode == 0, rerun.stderr
    for args in (["tag", run_id, "+canary"], ["note", run_id, "a note"], ["rename", run_id, "x"]):
        assert gitexp_as(args, repo).returncode == 0
    (repo / "train.py").write_text(SECRET_SCRIPT + "# uncommitted work\n")
    restored = gitexp_as(["restore", run_id, "--stash"], repo)
    assert restored.returncode == 0, restored.stderr
    assert git(repo, "for-each-ref", "refs/gitexp/stash")
    direct = subprocess.run([PY, "train.py"], cwd=repo, capture_output=True, text=True)
    assert direct.returncode == 0, direct.stderr
    assert len(run_refs(repo)) == 3
    _assert_no_canary(repo)


TOKENS = {
    "aws key id": "AKIA" + "IOSFODNN7CANARY1",
    "github classic": "ghp_" + "a" * 36,
    "github fine-grained": "github_pat_" + "11ABCDEFG" + "b" * 50,
    "gitlab": "glpat-" + "c" * 20,
    "slack": "xoxb-" + "1234567890-abcdef",
    "openai": "sk-" + "d" * 40,
    "openai project": "sk-proj-" + "e" * 40,
    "anthropic": "sk-ant-" + "api03-" + "f" * 30,
    "hugging face": "hf_" + "g" * 34,
    "google api": "AIza" + "h" * 35,
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "i" * 20,
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
    "pem cut off": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANB",
}

NOT_TOKENS = [
    "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",  # a git commit id
    "sha256:" + "0" * 64,
    "run 3kq9x2a5bcde finished",
    "lr=0.001 loss=0.25 step=10000",
    "sk-short",
    "ghp_tooShort",
    "AKIA-not-a-key",
    "hf_",
    "eyJ only one part",
    "-----BEGIN PUBLIC KEY-----\nMIIBIj\n-----END PUBLIC KEY-----",
]


@pytest.mark.parametrize("name", list(TOKENS))
def test_output_scrubbing_replaces_each_token_shape(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitexp.model import output

    monkeypatch.delenv("GITEXP_SCRUB_OUTPUT", raising=False)
    text = f"before {TOKENS[name]} after\n".encode()
    scrubbed = output.scrub(text)
    assert TOKENS[name].encode() not in scrubbed
    assert scrubbed.startswith(b"before " + output.REDACTED)
    if name != "pem cut off":
        assert scrubbed.endswith(b" after\n")


def test_output_scrubbing_leaves_ordinary_output_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitexp.model import output

    monkeypatch.delenv("GITEXP_SCRUB_OUTPUT", raising=False)
    for text in NOT_TOKENS:
        assert output.scrub(text.encode()) == text.encode(), text


def test_output_scrubbing_can_be_turned_off(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    script = tmp_path / "tokens.py"
    script.write_text(f"print({TOKENS['github classic']!r})\nprint({TOKENS['aws key id']!r})\n")
    on = gitexp_as(["run", "--", PY, str(script)], repo)
    off = gitexp_as(["run", "--", PY, str(script)], repo, env={"GITEXP_SCRUB_OUTPUT": "0"})
    assert on.returncode == off.returncode == 0
    logs = {}
    for run_id in run_refs(repo):
        ref = f"refs/gitexp/runs/{run_id}"
        logs[run_json(repo, ref)["start"]] = show(repo, ref, ".gitexp/output.log")
    first, second = (logs[k] for k in sorted(logs))
    assert TOKENS["github classic"] not in first and "[redacted by gitexp]" in first
    assert TOKENS["github classic"] in second and TOKENS["aws key id"] in second
    assert TOKENS["github classic"] in on.stdout  # the terminal always shows the output


def test_scrubbing_holds_across_the_cap_boundary(tmp_path: Path) -> None:
    """A token in the kept tail of a long output is scrubbed too."""
    from gitexp.model import output

    path = tmp_path / "out.log"
    token = TOKENS["hugging face"]
    path.write_bytes(b"x" * (output.HEAD_BYTES + output.TAIL_BYTES) + f"\n{token}\n".encode())
    capped = output.read_capped(str(path))
    assert capped is not None and token.encode() not in capped
    assert output.REDACTED in capped


def test_secret_looking_files_are_left_out_unless_tracked_or_included(tmp_path: Path) -> None:
    """Beyond tests/test_snapshot.py: a canary inside each left-out file never reaches an
    object, --include keeps exactly the one named, and .gitexpignore adds exclusions."""
    repo = make_repo(tmp_path / "repo")
    names = [".env", "server.pem", "id_ed25519", ".netrc", "service-account-prod.json",
             "credentials", "prod.tfvars", "deploy.key"]  # fmt: skip
    for i, name in enumerate(names):
        (repo / name).write_text(f"secret-canary-{i}-8c2d\n")
    (repo / ".env.example").write_text("KEY=placeholder\n")
    (repo / "local-notes.txt").write_text("secret-canary-notes-8c2d\n")
    (repo / ".gitexpignore").write_text("local-notes.txt\n")
    done = gitexp_as(["run", "--include", "deploy.key", "--", *SH], repo)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(repo)
    ref = f"refs/gitexp/runs/{run_id}"
    listing = tree_listing(repo, ref)
    assert "deploy.key" in listing and ".env.example" in listing
    assert not (set(names) - {"deploy.key"}) & set(listing)
    assert "local-notes.txt" not in listing
    left = skipped(repo, ref)
    assert {n for n, why in left.items() if why == "secret"} == set(names) - {"deploy.key"}
    for name in set(names) - {"deploy.key"}:
        assert f"left out {name}: it looks like a secret" in done.stderr
    objects = _all_objects(repo)
    for i, name in enumerate(names):
        assert (f"secret-canary-{i}-8c2d".encode() in objects) == (name == "deploy.key")
    assert b"secret-canary-notes-8c2d" not in objects


# -- what the table covers, for docs/reliability.md ------------------------------------------


def test_case_count() -> None:
    """The figure quoted in docs/reliability.md: input cases tried by this file."""
    from reliability_helpers import report

    metrics = 7  # the test_metrics_* functions
    races = 4
    others = 4  # read-only x2, huge file, rejected push (+ DVC when push exists)
    # crafted runs; a nested ref name, newer fields, two symlinks, crafted alias refs
    remote = len(VECTORS) + 5
    total = len(CASES) + len(REFERENCE_CASES) + metrics + races + others + remote
    report(f"hostile input: {total} cases ({len(CASES)} command-line, {len(REFERENCE_CASES)} "
           f"references, {metrics} metric, {races} snapshot races, {remote} from remotes, "
           f"{others} more)")  # fmt: skip
    assert total >= 25


def test_a_run_dated_in_the_future_never_becomes_latest(tmp_path: Path) -> None:
    """A pulled run claiming next year's start is ordered by when it arrived here."""

    repo = make_repo(tmp_path / "repo")
    assert gitexp_as(["run", "--name", "older", "--", PY, "-c", "pass"], repo).returncode == 0
    (older,) = run_refs(repo)
    raw = subprocess.run(
        ["git", "cat-file", "commit", f"refs/gitexp/runs/{older}"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    future = time.time() + 365 * 86400
    forged = re.sub(rb'"start":[0-9.e+]+', b'"start":%f' % future, raw)
    forged = forged.replace(older.encode(), b"zzzzforged01").replace(b'"older"', b'"forged"')
    sha = (
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo,
            input=forged,
            capture_output=True,
            check=True,
        )
        .stdout.strip()
        .decode()
    )
    git(repo, "update-ref", "refs/gitexp/runs/zzzzforged01", sha)  # no reflog: plain git
    time.sleep(0.01)
    assert gitexp_as(["run", "--name", "newest", "--", PY, "-c", "pass"], repo).returncode == 0
    shown = gitexp_as(["show", "latest"], repo)
    assert shown.returncode == 0, shown.stderr
    assert "newest" in shown.stdout.splitlines()[0], shown.stdout
    listed = gitexp_as(["ls", "--json", "--all"], repo)
    names = [row["name"] for row in json.loads(listed.stdout)]
    assert names.index("newest") < names.index("forged"), names


# -- runs from a remote: crafted by git plumbing, pulled, then named ------------------------------
#
# A bare remote holds one good run and one crafted run per vector (written with
# hash-object, mktree-like raw trees, commit-tree and update-ref, never through gitexp).
# Each test pulls, then brings the crafted run in with a plain `git fetch` (as a user
# without gitexp's hook would) and aims every reading command at it.  Each asserts the
# exit code and the reason, that nothing outside the work tree or inside .git changed
# except gitexp's cache folder, that no process the run names was started (a sentinel
# file), and that no command took more than HANG_CPU_SECONDS of CPU (a hang, not a speed).

EVIL = "evilrun00001"
HANG_CPU_SECONDS = 5.0
MEMORY_BOUND_KIB = 1 << 20  # 1 GiB: peak resident memory of any gitexp started here


def _raw_entries(repo: Path, tree: str) -> list[tuple[str, bytes, str]]:
    out = subprocess.run(
        ["git", "ls-tree", "-z", tree], cwd=repo, capture_output=True, check=True
    ).stdout
    entries = []
    for item in out.split(b"\0"):
        if item:
            head, name = item.split(b"\t", 1)
            mode, _kind, sha = head.decode().split()
            entries.append((mode, name, sha))
    return entries


def _object(repo: Path, kind: str, data: bytes) -> str:
    """Any object, as git stores it without checking it (what a hostile remote sends)."""
    done = subprocess.run(
        ["git", "hash-object", "-t", kind, "--literally", "-w", "--stdin"],
        cwd=repo,
        input=data,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


def _tree(repo: Path, entries: list[tuple[str, bytes, str]]) -> str:
    entries = sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == "040000" else b""))
    body = b"".join(
        mode.lstrip("0").encode() + b" " + name + b"\0" + bytes.fromhex(sha)
        for mode, name, sha in entries
    )
    return _object(repo, "tree", body)


@dataclass
class Forgery:
    """What the crafted run changes in a copy of the good run's last commit."""

    meta: dict[str, bytes] = field(default_factory=dict)  # .gitexp/<name>: content
    top: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (mode, name, blob)
    subtree: tuple[bytes, bytes, bytes] | None = None  # (folder, file name, content)
    row: dict[str, Any] = field(default_factory=dict)  # listing row fields replaced


def forge(bare: Path, good: str, sentinel: Path, how: Forgery) -> str:
    """A commit like the good run's, with ``how`` applied; its id and command are EVIL's."""
    ref = f"refs/gitexp/runs/{good}"
    root = git(bare, "rev-parse", f"{ref}^{{tree}}").strip()
    top = _raw_entries(bare, root)
    meta_sha = next(sha for _m, name, sha in top if name == b".gitexp")
    meta = {name: (mode, sha) for mode, name, sha in _raw_entries(bare, meta_sha)}
    info = json.loads(git(bare, "show", f"{ref}:.gitexp/run.json"))
    command = ["/bin/sh", "-c", f"touch {sentinel}"]
    info.update(id=EVIL, name="evil", command=command)
    contents = {"run.json": json.dumps(info).encode(), **how.meta}
    for name, content in contents.items():
        meta[name.encode()] = ("100644", _object(bare, "blob", content))
    new_meta = _tree(bare, [(m, n, s) for n, (m, s) in meta.items()])
    entries = [(m, n, new_meta if n == b".gitexp" else s) for m, n, s in top]
    entries += [(mode, name, _object(bare, "blob", blob)) for mode, name, blob in how.top]
    if how.subtree:
        folder, name, content = how.subtree
        inner = _tree(bare, [("100644", name, _object(bare, "blob", content))])
        entries.append(("040000", folder, inner))
    message = git(bare, "log", "-1", "--format=%B", ref)
    head, marker, row_text = message.rpartition("gitexp-run: ")
    row = json.loads(row_text)
    row.update({"id": EVIL, "name": "evil", "command": command, **how.row})
    message = head.replace(good, EVIL) + marker + json.dumps(row) + "\n"
    tree = _tree(bare, entries)
    return git(bare, "commit-tree", tree, "-p", ref, "-m", message).strip()


def _deep_json(depth: int) -> bytes:
    return b'{"summary": ' + b"[" * depth + b"]" * depth + b"}"


def _deep_yaml(depth: int) -> bytes:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)).encode() + b"  " * depth + b"x: 1\n"


def _artifacts(path: str) -> bytes:
    item = {"path": path, "kind": "output", "md5": "0" * 32, "size": 1}
    return json.dumps(
        {"format": 1, "pointer": ".gitexp-artifacts.dvc", "artifacts": [item]}
    ).encode()


def _lineage(file_name: str) -> bytes:
    output = {
        "name": "model",
        "type": "model",
        "digest": "0" * 64,
        "files": [{"name": file_name, "md5": "0" * 32, "size": 1}],
    }
    return json.dumps({"format": 1, "outputs": [output], "inputs": []}).encode()


OUTSIDE = "outside"  # a folder beside the clone: nothing may be written there


def _media_artifact(path: str) -> bytes:
    """artifacts.json keeping a media file too large for git (kind media, added in 0.3)."""
    item = {"path": path, "kind": "media", "md5": "0" * 32, "size": 1}
    return json.dumps({"format": 1, "artifacts": [item]}).encode()


def _media_summary(path: str) -> bytes:
    """metrics.json whose last image (a media reference, added in 0.3) names ``path``."""
    ref = {"_type": "image-file", "path": path, "sha256": "0" * 64, "size": 1}
    return json.dumps({"format": 1, "summary": {"img": ref}}).encode()


@dataclass
class Vector:
    id: str
    how: Forgery | None  # None: the ref points at a blob
    reason: str  # what pull and the commands say
    row_level: bool = False  # ls can tell from the listing row alone


VECTORS = [
    Vector("yaml-alias-bomb", Forgery(meta={"config.yaml": CONFIG_BOMB}), "YAML anchor or alias"),
    Vector(
        "row-wrong-types",
        Forgery(row={"start": "yesterday", "config": [1, 2]}),
        "field 'start' is a str",
        row_level=True,
    ),
    Vector(
        "run-json-wrong-types",
        Forgery(meta={"run.json": json.dumps({"id": EVIL, "tags": "x", "start": 1}).encode()}),
        "run.json field 'tags' is a str",
    ),
    # Fields added in 0.3 are typed too: `ls` reads `unapplied` for its marks, and
    # `rerun` runs `command_template` (after asking).
    Vector(
        "row-unapplied-wrong-type",
        Forgery(row={"unapplied": ["lr"]}),
        "field 'unapplied' is a list",
        row_level=True,
    ),
    Vector(
        "command-template-not-strings",
        Forgery(
            meta={
                "run.json": json.dumps(
                    {"id": EVIL, "start": 1, "command_template": ["sh", ["-c", "x"]]}
                ).encode()
            }
        ),
        "field 'command_template' holds something other than strings",
    ),
    Vector("ref-to-a-blob", None, "does not point at a commit"),
    Vector("tree-dotdot", Forgery(subtree=(b"..", b"escaped.txt", b"x\n")), "not normalized"),
    Vector(
        "tree-dot-git-hook",
        Forgery(subtree=(b".git", b"post-checkout", b"#!/bin/sh\ntouch SENTINEL\n")),
        "points into .git",
    ),
    Vector(
        "tree-dot-git-ntfs-alias",
        Forgery(subtree=(b"GIT~1", b"config", b"[core]\n")),
        "points into .git",
    ),
    Vector(
        "tree-backslash",
        Forgery(top=[("100644", b"..\\escaped.txt", b"x\n")]),
        "backslash",
    ),
    Vector(
        "gitmodules-symlink",
        Forgery(top=[("120000", b".gitmodules", b"/etc/passwd")]),
        "symbolic link where git expects a file",
    ),
    Vector(
        "artifact-dotdot",
        Forgery(meta={"artifacts.json": _artifacts(f"../{OUTSIDE}/model.bin")}),
        "artifacts.json: path",
    ),
    Vector(
        "lineage-file-dotdot",  # an artifact version's file name is a path download writes
        Forgery(meta={"lineage.json": _lineage(f"../{OUTSIDE}/model.bin")}),
        "lineage.json: output 'model': path",
    ),
    Vector(
        "artifact-absolute",
        Forgery(meta={"artifacts.json": _artifacts("/tmp/gitexp-evil/model.bin")}),
        "is absolute",
    ),
    Vector(
        "artifact-through-a-symlink",
        Forgery(
            top=[("120000", b"out", f"../{OUTSIDE}".encode())],
            meta={"artifacts.json": _artifacts("out/model.bin")},
        ),
        "lies under a symbolic link",
    ),
    Vector(
        "dvc-pointer-dotdot",
        Forgery(top=[("100644", b".gitexp-artifacts.dvc", b"outs:\n- md5: x\n  path: ../x.bin\n")]),
        ".gitexp-artifacts.dvc: path",
    ),
    Vector(
        "snapshot-json-dotdot",
        Forgery(meta={"snapshot.json": b'{"skipped": [{"path": "../../etc/passwd"}]}'}),
        "snapshot.json: path",
    ),
    Vector(
        "oversized-run-json",
        Forgery(meta={"run.json": json.dumps({"id": EVIL, "notes": "x" * (1 << 21)}).encode()}),
        "over the limit",
    ),
    Vector("deep-json", Forgery(meta={"metrics.json": _deep_json(100_000)}), "nests deeper"),
    # A media reference is a path a viewer reads (and a report bundle copies): it stays
    # under the run's .gitexp/media/ folder.
    Vector(
        "media-path-dotdot",
        Forgery(meta={"metrics.json": _media_summary(f".gitexp/media/../../{OUTSIDE}/x.png")}),
        "a media reference: path",
    ),
    Vector(
        "media-artifact-dotdot",
        Forgery(meta={"artifacts.json": _media_artifact(f".gitexp/media/../../{OUTSIDE}/x")}),
        "artifacts.json: a media reference: path",
    ),
    Vector(
        "media-path-outside-media",
        Forgery(meta={"metrics.json": _media_summary(".gitexp/run.json")}),
        "lies outside .gitexp/media/",
    ),
    Vector("deep-config", Forgery(meta={"config.yaml": _deep_yaml(150)}), "nests deeper"),
]


@pytest.fixture(scope="module")
def good_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A project with one good run, pushed to a bare remote by plain git."""
    from reliability_helpers import isolated_env

    base = tmp_path_factory.mktemp("remote")
    with isolated_env(tmp_path_factory.mktemp("home")):
        project = make_repo(base / "project")
        done = gitexp_as(["run", "--name", "good", "--", *SH], project)
        assert done.returncode == 0, done.stderr
        (good,) = run_refs(project)
        git(base, "clone", "-q", "--bare", str(project), "origin.git")
        git(
            project, "push", "-q", str(base / "origin.git"), "refs/gitexp/runs/*:refs/gitexp/runs/*"
        )
        yield {"bare": base / "origin.git", "good": good}


def _state(root: Path, skip: tuple[str, ...]) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root`` (``.git`` included), except those under ``skip``."""
    out: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [
            d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip
        ]
        for name in filenames:
            if os.path.normpath(os.path.join(rel_dir, name)) in skip:
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = os.readlink(path).encode() if os.path.islink(path) else Path(path).read_bytes()
            out[os.path.relpath(path, root)] = (st.st_mode, data)
    return out


def _timed(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = gitexp_as(args, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < HANG_CPU_SECONDS, (args, cpu)
    assert after.ru_maxrss < MEMORY_BOUND_KIB, (args, after.ru_maxrss)
    assert "Traceback" not in done.stderr and done.returncode != 70, (args, done.stderr)
    return done


# Each vector starts ~12 gitexp processes (~10 s under load): five run in the quick tier.
QUICK_VECTORS = (
    "yaml-alias-bomb", "row-wrong-types", "ref-to-a-blob", "artifact-dotdot", "media-path-dotdot",
)  # fmt: skip


@pytest.mark.parametrize(
    "vector",
    [
        pytest.param(v, id=v.id, marks=[] if v.id in QUICK_VECTORS else [pytest.mark.slow])
        for v in VECTORS
    ],
)
def test_a_crafted_run_from_a_remote_is_quarantined(
    vector: Vector, good_remote: dict[str, Any], tmp_path: Path
) -> None:
    good = good_remote["good"]
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    sentinel = tmp_path / "SENTINEL"
    (tmp_path / OUTSIDE).mkdir()
    if vector.how is None:
        sha = _object(bare, "blob", b"not a commit\n")
    else:
        how = vector.how
        how.subtree = how.subtree and (
            how.subtree[0],
            how.subtree[1],
            how.subtree[2].replace(b"SENTINEL", bytes(sentinel)),
        )
        sha = forge(bare, good, sentinel, how)
    git(bare, "update-ref", f"refs/gitexp/runs/{EVIL}", sha)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))

    # pull: the good run comes, the crafted one is reported and never made a local run.
    pulled = _timed(["pull", "--no-artifacts"], clone)
    assert pulled.returncode == 9, pulled.stderr
    assert "quarantined" in pulled.stdout and vector.reason in pulled.stdout, pulled.stdout
    assert set(run_refs(clone)) == {good}

    # The same run brought in by a plain git fetch: every command aimed at it refuses it.
    git(clone, "fetch", "-q", "origin", f"+refs/gitexp/runs/{EVIL}:refs/gitexp/runs/{EVIL}")
    cache = os.path.join(".git", "gitexp", "cache")
    # What gitexp keeps about itself: the listing cache, and which mirrors it has seen
    # (that test fetch above changed the remote-tracking refs' stamp).
    skip = (os.path.join("clone", cache), os.path.join("clone", ".git", "gitexp", "mirrors.seen"))
    before = _state(tmp_path, skip)
    reports = tmp_path / "reports"
    for args in (["show", EVIL], ["diff", good, EVIL], ["restore", EVIL],
                 ["branch", EVIL, "evil-code"], ["rerun", EVIL],
                 ["run", "--resume", EVIL, "--", "true"]):  # fmt: skip
        done = _timed(args, clone)
        assert done.returncode == 7, (args, done.stderr)
        assert f"run {EVIL} is quarantined" in done.stderr and vector.reason in done.stderr
    for args in (["ls"], ["compare", good, EVIL], ["report", "-n", "0", "-o", f"{reports}/r.md"]):
        done = _timed(args, clone)
        assert done.returncode == 0, (args, done.stderr)
        warning = f"skipped quarantined run refs/gitexp/runs/{EVIL}: "
        assert done.stderr.count(warning) == 1 and vector.reason in done.stderr, done.stderr
    assert EVIL not in (reports / "r.md").read_text()
    shutil.rmtree(reports)
    assert _state(tmp_path, skip) == before
    assert not sentinel.exists()
    assert not os.listdir(tmp_path / OUTSIDE)


def test_a_ref_name_that_is_no_run_id_is_never_pulled(
    good_remote: dict[str, Any], tmp_path: Path
) -> None:
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    good_sha = git(bare, "rev-parse", f"refs/gitexp/runs/{good_remote['good']}").strip()
    git(bare, "update-ref", "refs/gitexp/runs/nested/run", good_sha)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    pulled = _timed(["pull", "--no-artifacts"], clone)
    assert pulled.returncode == 9, pulled.stderr
    assert "'nested/run' is not a valid run id" in pulled.stdout, pulled.stdout
    assert set(run_refs(clone)) == {good_remote["good"]}
    assert "nested" not in git(clone, "for-each-ref", "refs/gitexp/runs")


def test_crafted_alias_refs_from_a_remote_are_never_made_local(
    good_remote: dict[str, Any], tmp_path: Path
) -> None:
    """An artifact alias (refs/gitexp/aliases/<name>/<alias>, docs/format.md) is input too:
    a ref at a blob, a commit whose alias.json names another alias, a commit with more in
    its tree, a ref name that is no alias; each is quarantined by pull, ignored here."""
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    blob = _object(bare, "blob", b"not a move\n")
    move = json.dumps({"format": 1, "name": "model", "alias": "other", "digest": "0" * 64})
    other_alias = _object(bare, "blob", move.encode())
    tree = _tree(bare, [("100644", b"alias.json", other_alias)])
    extra = _tree(bare, [("100644", b"alias.json", other_alias), ("100644", b"x", blob)])
    refs = {
        "model/at-a-blob": blob,
        "model/stolen": git(bare, "commit-tree", tree, "-m", "forged").strip(),
        "model/other": git(bare, "commit-tree", extra, "-m", "forged").strip(),
        "model/v3": git(bare, "commit-tree", tree, "-m", "forged").strip(),
    }
    for tail, sha in refs.items():
        git(bare, "update-ref", f"refs/gitexp/aliases/{tail}", sha)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    pulled = _timed(["pull", "--no-artifacts"], clone)
    assert pulled.returncode == 9, pulled.stderr
    for tail in refs:
        assert f"alias {tail.replace('/', ':')}" in pulled.stdout, pulled.stdout
    assert pulled.stdout.count("quarantined") >= len(refs)
    assert git(clone, "for-each-ref", "refs/gitexp/aliases") == ""
    assert set(run_refs(clone)) == {good_remote["good"]}
    # The same refs brought by a plain git fetch: listed nowhere, one warning each.
    git(clone, "fetch", "-q", "origin", "+refs/gitexp/aliases/*:refs/gitexp/aliases/*")
    listed = _timed(["artifacts"], clone)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.count("is not one gitexp wrote: ignored") == len(refs), listed.stderr


# -- the validator against git's own rules (hypothesis, sampled) ---------------------------------

_PATH_PARTS = st.sampled_from(
    [".", "..", ".git", ".GIT", "git~1", ".git.", ".git ", ".gitexp", "a", "b.txt", "x y",
     "\\", ":", "C:", "~", "\x01", "\u200c.git", "é", ".gitmodules", "", "-", "*"]
)  # fmt: skip
_PATHS = st.lists(
    st.one_of(_PATH_PARTS, st.text(alphabet="ab.gitGIT~1 \\:/", max_size=6)),
    min_size=1,
    max_size=4,
).map("/".join)


def _git_accepts_path(repo: Path, blob: str, path: str) -> bool:
    index = repo / ".git" / "probe-index"
    index.unlink(missing_ok=True)
    done = subprocess.run(
        ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
        cwd=repo,
        env={**os.environ, "GIT_INDEX_FILE": str(index)},
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def probe_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("probe")
    git(repo, "init", "-q")
    return repo, _object(repo, "blob", b"x\n")


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(path=_PATHS)
@example(path="a/../b")
@example(path=".git/hooks/post-checkout")
@example(path="GIT~1/config")
@example(path="sub/.Git/config")
def test_a_path_the_validator_accepts_is_one_git_accepts(
    probe_repo: tuple[Path, str], path: str
) -> None:
    """Never laxer than git (core.protectNTFS/HFS on, as git 2.39 has by default)."""
    from gitexp.model.validate import check_path

    repo, blob = probe_repo
    if "\0" in path or "\n" in path:
        return  # not expressible on git's command line
    if check_path(path, meta=True) is None:
        assert _git_accepts_path(repo, blob, path), path


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(name=st.text(alphabet="abz09.-_/~^:?*[@{}\\ ", min_size=1, max_size=14))
@example(name="a..b")
@example(name="x.lock")
@example(name="-x")
@example(name=".hidden")
def test_a_run_id_the_validator_accepts_is_a_ref_name_git_accepts(name: str) -> None:
    from gitexp.model.validate import check_run_id

    if check_run_id(name) is None:
        done = subprocess.run(
            ["git", "check-ref-format", f"refs/gitexp/runs/{name}"], capture_output=True
        )
        assert done.returncode == 0, name


def test_a_run_with_fields_of_a_newer_gitexp_is_not_quarantined(
    good_remote: dict[str, Any], tmp_path: Path
) -> None:
    """Format 1 grows by addition: unknown fields, files and `_type`s read as before."""
    good = good_remote["good"]
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    info = json.loads(git(bare, "show", f"refs/gitexp/runs/{good}:.gitexp/run.json"))
    info.update(id=EVIL, name="newer", added_in_0_9={"anything": [1, 2]})
    video = {"last": {"_type": "video", "path": "media/clip.mp4"}}
    how = Forgery(
        meta={"run.json": json.dumps(info).encode(), "media.json": b'{"clips": []}'},
        row={"name": "newer", "added_in_0_9": True, "metrics": {"clip": video}},
    )
    git(bare, "update-ref", f"refs/gitexp/runs/{EVIL}", forge(bare, good, tmp_path / "S", how))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    pulled = _timed(["pull", "--no-artifacts"], clone)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert set(run_refs(clone)) == {good, EVIL}
    shown = _timed(["show", EVIL], clone)
    assert shown.returncode == 0 and "quarantined" not in shown.stderr, shown.stderr
    listed = _timed(["ls", "--json"], clone)
    assert {row["id"] for row in json.loads(listed.stdout)} == {good, EVIL}, listed.stderr


def test_restore_never_writes_through_a_symlink_in_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n", "sub/file.txt": "run's\n"})
    assert gitexp_as(["run", "--", *SH], repo).returncode == 0
    (run_id,) = run_refs(repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine\n")
    shutil.rmtree(repo / "sub")
    os.symlink(str(outside), repo / "sub")  # where the snapshot has a folder
    done = gitexp_as(["restore", run_id, "--force"], repo)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert not os.path.islink(repo / "sub") and (repo / "sub" / "file.txt").read_text() == "run's\n"


def test_an_artifact_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    from gitexp.artifacts.restore import refuse_links
    from gitexp.errors import RepositoryStateError

    root, outside = tmp_path / "work", tmp_path / "outside"
    (root / "models").mkdir(parents=True)
    outside.mkdir()
    os.symlink(str(outside), root / "models" / "out")
    refuse_links(str(root), "models/model.bin")  # a real folder: fine
    for path in ("models/out/model.bin", "models/out"):
        with pytest.raises(RepositoryStateError, match="symbolic link 'models/out'"):
            refuse_links(str(root), path)


def test_ui_leaves_a_quarantined_run_out_and_warns_once(
    good_remote: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitexp.render.server import DashboardServer

    good = good_remote["good"]
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    how = Forgery(meta={"config.yaml": CONFIG_BOMB})
    git(bare, "update-ref", f"refs/gitexp/runs/{EVIL}", forge(bare, good, tmp_path / "S", how))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    git(clone, "fetch", "-q", "origin", "+refs/gitexp/runs/*:refs/gitexp/runs/*")  # no check yet
    server = DashboardServer(str(clone), 0)
    try:
        assert {run["id"] for run in server.runs_json(None)["runs"]} == {good, EVIL}
        # Only the runs a request names are read whole (a poll must not check every run).
        assert [run["id"] for run in server.bundle_json([good])["runs"]] == [good]
        assert server.media(good, "nothing.png") is None
        assert "skipped quarantined" not in capsys.readouterr().err
        bundle = server.bundle_json([good, EVIL])  # reads both whole: EVIL fails, once
        assert [run["id"] for run in bundle["runs"]] == [good]
        for _ in range(3):  # the page refreshes: the verdict is cached, the warning not repeated
            assert [run["id"] for run in server.runs_json(None)["runs"]] == [good]
    finally:
        server.server_close()
    warnings = capsys.readouterr().err
    assert warnings.count(f"skipped quarantined run refs/gitexp/runs/{EVIL}: ") == 1, warnings
    assert "YAML anchor or alias" in warnings


def test_git_fetch_through_the_hook_never_makes_a_crafted_run_local(
    good_remote: dict[str, Any], tmp_path: Path
) -> None:
    good = good_remote["good"]
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    how = Forgery(meta={"artifacts.json": _artifacts("../outside/model.bin")})
    git(bare, "update-ref", f"refs/gitexp/runs/{EVIL}", forge(bare, good, tmp_path / "S", how))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert gitexp_as(["install"], clone).returncode == 0
    git(clone, "fetch", "-q")
    listed = _timed(["ls", "--json"], clone)  # brings in what the fetch mirrored, first
    assert listed.returncode == 0, listed.stderr
    assert f"quarantined fetched run refs/gitexp/runs/{EVIL}: artifacts.json" in listed.stderr
    assert set(run_refs(clone)) == {good}
    assert [row["id"] for row in json.loads(listed.stdout)] == [good]


def test_crafted_sweep_refs_are_quarantined_never_made_local(
    good_remote: dict[str, Any], tmp_path: Path
) -> None:
    bare = tmp_path / "origin.git"
    shutil.copytree(good_remote["bare"], bare)
    blob = git(bare, "hash-object", "-w", "--stdin", input=b"not a commit\n").strip()
    spec = git(bare, "hash-object", "-w", "--stdin", input=b"group: bad\nparameters: 5\n").strip()
    tree = git(bare, "mktree", input=f"100644 blob {spec}\tsweep.yaml\n".encode()).strip()
    commit = git(bare, "commit-tree", tree, "-m", "crafted").strip()
    git(bare, "update-ref", "refs/gitexp/sweeps/blob", blob)
    git(bare, "update-ref", "refs/gitexp/sweeps/bad", commit)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    pulled = gitexp_as(["pull", "origin"], clone)
    assert pulled.returncode == 0, pulled.stderr  # the good run still comes
    assert "sweep 'bad' quarantined (not made local): its sweep.yaml is not a sweep" in (
        pulled.stdout
    )
    assert "sweep 'blob' quarantined (not made local): its ref does not point" in pulled.stdout
    assert git(clone, "for-each-ref", "refs/gitexp/sweeps") == ""
    assert set(run_refs(clone)) == {good_remote["good"]}
    # Brought in by plain git, they are left out of listings and refused by name (exit 7).
    git(clone, "fetch", "-q", "origin", "+refs/gitexp/sweeps/*:refs/gitexp/sweeps/*")
    listed = gitexp_as(["sweep", "show"], clone)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.count("skipped quarantined sweep refs/gitexp/sweeps/") == 2
    for name in ("bad", "blob"):
        named = gitexp_as(["sweep", "show", name], clone)
        assert named.returncode == 7, named.stderr
        assert f"sweep {name} is quarantined" in named.stderr
    resumed = gitexp_as(["sweep", "--resume", "bad", "--yes"], clone)
    assert resumed.returncode == 7, resumed.stderr
    assert not fsck_problems(clone)
