"""The workspace snapshot of a run: exactly what ``git add -A`` would commit.

Each test records a run with ``gitexp run`` in a real repository and compares the run's
root tree (minus ``.gitexp``) with the tree git itself writes from a temporary copy of
the index after ``git add -A``; the real index and the workspace must stay untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitexp, run_refs

PASS = (sys.executable, "-c", "pass")
# Long enough for the wrapper's background thread (large-file hashes) to finish first.
SHORT_WAIT = (sys.executable, "-c", "import time; time.sleep(0.8)")


# -- helpers ---------------------------------------------------------------------------


def record(
    repo: Path,
    *options: str,
    command: tuple[str, ...] = PASS,
    env: dict[str, str] | None = None,
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Record one run; return its ref name and the finished ``gitexp run`` process."""
    before = set(run_refs(repo))
    done = gitexp("run", *options, "--", *command, cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    new = set(run_refs(repo)) - before
    assert len(new) == 1, new
    return f"refs/gitexp/runs/{new.pop()}", done


def tree_entries(repo: Path, tree: str) -> dict[str, tuple[str, str, str]]:
    """{path: (mode, type, object id)} of every non-tree entry, recursively."""
    out = git(repo, "ls-tree", "-r", "-z", "--full-tree", tree)
    entries = {}
    for item in out.split("\0"):
        if item:
            meta, path = item.split("\t", 1)
            mode, kind, sha = meta.split()
            entries[path] = (mode, kind, sha)
    return entries


def snapshot_entries(repo: Path, ref: str) -> dict[str, tuple[str, str, str]]:
    entries = tree_entries(repo, f"{ref}^{{tree}}")
    return {path: e for path, e in entries.items() if not path.startswith(".gitexp/")}


def git_add_all_tree(repo: Path) -> str:
    """The tree ``git add -A`` + ``git write-tree`` give, using a throwaway index."""
    index = repo.parent / f"add-all-{os.urandom(4).hex()}.index"  # outside the work tree
    real = repo / ".git" / "index"
    if real.exists():
        shutil.copy2(real, index)  # keep its mtime: git's racy-git check depends on it
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True, capture_output=True)
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    index.unlink()
    return tree


def assert_snapshot_is_git_add_all(repo: Path, ref: str) -> None:
    expected = git_add_all_tree(repo)
    assert snapshot_entries(repo, ref) == tree_entries(repo, expected)
    # Object for object: the run's root tree without .gitexp is git's own tree.
    top = git(repo, "ls-tree", "-z", f"{ref}^{{tree}}")
    kept = [e for e in top.split("\0") if e and e.split("\t", 1)[1] != ".gitexp"]
    rebuilt = subprocess.run(
        ["git", "mktree", "-z"],
        cwd=repo,
        input="".join(e + "\0" for e in kept),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert rebuilt == expected


def show(repo: Path, ref: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout


def snapshot_json(repo: Path, ref: str) -> dict:
    return json.loads(show(repo, ref, ".gitexp/snapshot.json"))


def run_json(repo: Path, ref: str) -> dict:
    return json.loads(show(repo, ref, ".gitexp/run.json"))


def object_exists(repo: Path, data: bytes) -> bool:
    """Whether a blob with ``data`` is anywhere in the object database."""
    sha = (
        subprocess.run(
            ["git", "hash-object", "--stdin"], cwd=repo, input=data, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    found = subprocess.run(["git", "cat-file", "-e", sha], cwd=repo, capture_output=True)
    return found.returncode == 0


def assert_fsck_clean(repo: Path) -> None:
    done = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def workspace_state(repo: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under the work tree (outside .git): its mode and content or link target."""
    state: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        if Path(dirpath) == repo:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(repo))
            if path.is_symlink():
                state[rel] = (st.st_mode, os.readlink(path).encode())
            elif path.is_file():
                state[rel] = (st.st_mode, path.read_bytes())
            else:
                state[rel] = (st.st_mode, b"")
    return state


# -- what git add -A would commit --------------------------------------------------------


def test_modified_deleted_and_untracked_files(repo: Path) -> None:
    with (repo / "train.py").open("a") as handle:
        handle.write("# an uncommitted edit\n")
    (repo / "config.yaml").unlink()
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "src" / "models").mkdir(parents=True)
    (repo / "src" / "models" / "net.py").write_text("class Net: ...\n")
    (repo / "empty_dir").mkdir()  # git records no empty folders

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)
    files = snapshot_entries(repo, ref)
    assert show(repo, ref, "train.py").endswith(b"# an uncommitted edit\n")
    assert "config.yaml" not in files
    assert show(repo, ref, "src/models/net.py") == b"class Net: ...\n"
    assert not any(path.startswith("empty_dir") for path in files)
    snap = snapshot_json(repo, ref)
    assert (snap["dirty"], snap["modified"], snap["deleted"], snap["untracked"]) == (
        True,
        1,
        1,
        2,
    )
    assert run_json(repo, ref)["dirty"] is True
    assert_fsck_clean(repo)


def test_clean_workspace_is_the_head_tree(repo: Path) -> None:
    ref, _ = record(repo)
    assert_snapshot_is_git_add_all(repo, ref)
    assert snapshot_entries(repo, ref) == tree_entries(repo, "HEAD^{tree}")
    assert run_json(repo, ref)["dirty"] is False
    assert snapshot_json(repo, ref)["dirty"] is False


def test_ignored_files_and_folders_are_left_out(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)  # the global ignore file: ~/.config
    data = repo / "data"
    (data / "raw").mkdir(parents=True)
    for i in range(300):
        (data / "raw" / f"sample-{i}.csv").write_text(f"{i},{i * i}\n")
    (repo / "model.ckpt").write_bytes(b"\0weights" * 100)
    (repo / "src").mkdir()
    (repo / "src" / ".gitignore").write_text("*.tmp\n")  # a nested ignore file
    (repo / "src" / "scratch.tmp").write_text("scratch\n")
    (repo / "src" / "keep.py").write_text("x = 1\n")
    (repo / ".git" / "info" / "exclude").write_text("local-only.txt\n")
    (repo / "local-only.txt").write_text("excluded by .git/info/exclude\n")
    global_ignore = Path(os.environ["HOME"]) / ".config" / "git" / "ignore"
    global_ignore.parent.mkdir(parents=True, exist_ok=True)
    global_ignore.write_text("*.swp\n")
    (repo / "train.py.swp").write_bytes(b"vim swap")

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)
    files = snapshot_entries(repo, ref)
    assert not any(path.startswith("data/") for path in files)
    for left_out in ("model.ckpt", "src/scratch.tmp", "local-only.txt", "train.py.swp"):
        assert left_out not in files
    assert "src/keep.py" in files and "src/.gitignore" in files
    assert not object_exists(repo, b"\0weights" * 100)


def test_gitexpignore_leaves_untracked_files_out_of_snapshots_only(repo: Path) -> None:
    (repo / "results.csv").write_text("tracked,csv\n")
    git(repo, "add", "results.csv")
    git(repo, "commit", "-q", "-m", "tracked csv")
    (repo / "results.csv").write_text("tracked,csv,edited\n")
    (repo / ".gitexpignore").write_text("*.csv\nnotebooks/\n")
    (repo / "scratch.csv").write_text("untracked csv\n")
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "explore.ipynb").write_text("{}\n")
    (repo / "kept.py").write_text("kept\n")

    ref, _ = record(repo)

    files = snapshot_entries(repo, ref)
    assert "scratch.csv" not in files
    assert "notebooks/explore.ipynb" not in files
    assert show(repo, ref, "results.csv") == b"tracked,csv,edited\n"  # tracked: kept
    assert {"kept.py", ".gitexpignore"} <= set(files)
    assert not object_exists(repo, b"untracked csv\n")  # checked before git add -A writes it
    # git itself still sees them: only the snapshot leaves them out.
    expected = tree_entries(repo, git_add_all_tree(repo))
    assert {"scratch.csv", "notebooks/explore.ipynb"} <= set(expected)
    left_out = {"scratch.csv", "notebooks/explore.ipynb"}
    assert files == {p: e for p, e in expected.items() if p not in left_out}


def test_tracked_file_inside_an_ignored_folder_stays(repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "README.md").write_text("how to get the data\n")
    git(repo, "add", "-f", "data/README.md")
    git(repo, "commit", "-q", "-m", "data readme")
    (repo / "data" / "README.md").write_text("how to get the data, edited\n")
    (repo / "data" / "big.csv").write_text("1,2,3\n")  # untracked in an ignored folder

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)
    assert show(repo, ref, "data/README.md") == b"how to get the data, edited\n"
    assert "data/big.csv" not in snapshot_entries(repo, ref)


def test_odd_names_modes_links_empty_and_binary_files(repo: Path) -> None:
    (repo / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    git(repo, "add", "tool.sh")
    git(repo, "commit", "-q", "-m", "a tool")
    os.chmod(repo / "tool.sh", 0o755)  # tracked file made executable: a mode-only change
    (repo / "my file with spaces.txt").write_text("spaces\n")
    (repo / "données été").mkdir()
    (repo / "données été" / "résumé ü — 日本語.txt").write_text("non-ASCII\n")
    (repo / "run.sh").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("train.py", repo / "latest.py")
    (repo / "src").mkdir()
    (repo / "src" / "a.py").write_text("a = 1\n")
    os.symlink("src", repo / "srclink")  # a link to a folder is a link, not a folder
    os.symlink("does/not/exist", repo / "dangling")
    (repo / "empty.txt").write_bytes(b"")
    binary = bytes(range(256)) * 8 + b"\0\r\n\xff"
    (repo / "blob.bin").write_bytes(binary)

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)
    files = snapshot_entries(repo, ref)
    assert files["tool.sh"][0] == "100755"
    assert files["run.sh"][0] == "100755"
    assert files["train.py"][0] == "100644"
    assert files["latest.py"][0] == "120000"
    assert show(repo, ref, "latest.py") == b"train.py"
    assert files["srclink"][0] == "120000"
    assert not any(path.startswith("srclink/") for path in files)
    assert files["dangling"][0] == "120000"
    assert show(repo, ref, "dangling") == b"does/not/exist"
    assert show(repo, ref, "empty.txt") == b""
    assert show(repo, ref, "blob.bin") == binary
    assert show(repo, ref, "my file with spaces.txt") == b"spaces\n"
    assert show(repo, ref, "données été/résumé ü — 日本語.txt") == b"non-ASCII\n"
    snap = snapshot_json(repo, ref)
    assert snap["modified"] == 1  # tool.sh: only its mode changed
    assert_fsck_clean(repo)


def test_snapshot_of_a_repository_without_commits(empty_repo: Path) -> None:
    (empty_repo / "train.py").write_text("print('hi')\n")
    (empty_repo / ".gitignore").write_text("out/\n")
    (empty_repo / "out").mkdir()
    (empty_repo / "out" / "log.txt").write_text("ignored\n")

    ref, _ = record(empty_repo)

    assert_snapshot_is_git_add_all(empty_repo, ref)
    assert set(snapshot_entries(empty_repo, ref)) == {"train.py", ".gitignore"}
    assert not (empty_repo / ".git" / "index").exists()  # still nothing staged


def test_snapshot_taken_from_a_subfolder_covers_the_whole_repository(repo: Path) -> None:
    sub = repo / "experiments" / "exp1"
    sub.mkdir(parents=True)
    (sub / "local.py").write_text("print(1)\n")
    (repo / "top-level-new.txt").write_text("new\n")
    before = set(run_refs(repo))

    done = gitexp("run", "--", *PASS, cwd=sub)

    assert done.returncode == 0, done.stderr
    (run_id,) = set(run_refs(repo)) - before
    ref = f"refs/gitexp/runs/{run_id}"
    assert_snapshot_is_git_add_all(repo, ref)
    assert {"experiments/exp1/local.py", "top-level-new.txt"} <= set(snapshot_entries(repo, ref))


# -- nothing in the workspace or the index changes ---------------------------------------


def test_index_and_workspace_are_left_untouched(repo: Path) -> None:
    with (repo / "train.py").open("a") as handle:
        handle.write("# edit\n")
    (repo / "config.yaml").unlink()
    (repo / "new.txt").write_text("new\n")
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("1\n")
    (repo / ".env").write_text("TOKEN=1\n")
    status_before = git(repo, "status", "--porcelain", "--ignored")  # may refresh the index
    index = repo / ".git" / "index"
    index_before = index.read_bytes()
    index_mtime_before = index.stat().st_mtime_ns
    workspace_before = workspace_state(repo)

    record(repo)

    assert index.read_bytes() == index_before
    assert index.stat().st_mtime_ns == index_mtime_before
    assert not (repo / ".git" / "index.lock").exists()
    assert workspace_state(repo) == workspace_before
    assert git(repo, "status", "--porcelain", "--ignored") == status_before


def test_a_workspace_folder_named_gitexp_is_never_snapshotted(repo: Path) -> None:
    (repo / ".gitexp").mkdir()
    (repo / ".gitexp" / "notes.txt").write_text("my own notes\n")
    (repo / ".gitexp" / "run.json").write_text('{"fake": true}\n')
    (repo / ".gitexp" / "history").mkdir()
    (repo / ".gitexp" / "history" / "000000.jsonl").write_text('{"_step": 99}\n')

    ref, _ = record(repo)

    meta = set(git(repo, "ls-tree", "-r", "--name-only", ref, ".gitexp").split())
    assert "notes.txt" not in {p.rsplit("/", 1)[-1] for p in meta}
    assert ".gitexp/history/000000.jsonl" not in meta  # the run logged nothing
    info = run_json(repo, ref)
    assert "fake" not in info and info["id"] == ref.rsplit("/", 1)[1]
    assert not object_exists(repo, b"my own notes\n")
    assert {"path": ".gitexp", "reason": "reserved"} in snapshot_json(repo, ref)["skipped"]
    assert (repo / ".gitexp" / "notes.txt").read_text() == "my own notes\n"
    # Everything else is what git add -A gives, minus the reserved folder.
    expected = tree_entries(repo, git_add_all_tree(repo))
    expected = {p: e for p, e in expected.items() if not p.startswith(".gitexp/")}
    assert snapshot_entries(repo, ref) == expected


# -- large files -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "git-config"])
def test_untracked_file_over_the_size_limit_is_listed_not_stored(repo: Path, how: str) -> None:
    big = os.urandom(5000)
    small = b"small file\n" * 10  # 110 bytes: under 1 KiB
    tracked_big = b"tracked and large\n" * 200  # tracked: the user's decision, always kept
    (repo / "tracked.bin").write_bytes(tracked_big)
    git(repo, "add", "tracked.bin")
    git(repo, "commit", "-q", "-m", "tracked large file")
    (repo / "tracked.bin").write_bytes(tracked_big + b"edited\n")
    (repo / "weights").mkdir()
    (repo / "weights" / "big.bin").write_bytes(big)
    (repo / "small.txt").write_bytes(small)
    env: dict[str, str] = {}
    if how == "env":
        env["GITEXP_MAX_FILE_SIZE"] = "1k"
    else:
        git(repo, "config", "gitexp.maxFileSize", "1k")

    ref, _ = record(repo, command=SHORT_WAIT, env=env)

    files = snapshot_entries(repo, ref)
    assert "weights/big.bin" not in files
    assert not object_exists(repo, big)
    assert show(repo, ref, "small.txt") == small
    assert show(repo, ref, "tracked.bin") == tracked_big + b"edited\n"
    skipped = {item["path"]: item for item in snapshot_json(repo, ref)["skipped"]}
    assert skipped["weights/big.bin"] == {
        "path": "weights/big.bin",
        "reason": "too-large",
        "size": 5000,
        "md5": hashlib.md5(big).hexdigest(),
    }
    assert set(skipped) == {"weights/big.bin"}


def test_include_keeps_a_file_over_the_size_limit(repo: Path) -> None:
    big = os.urandom(3000)
    (repo / "big.bin").write_bytes(big)

    ref, _ = record(repo, "--include", "big.bin", env={"GITEXP_MAX_FILE_SIZE": "1k"})

    assert show(repo, ref, "big.bin") == big
    assert snapshot_json(repo, ref)["skipped"] == []


# -- secrets -----------------------------------------------------------------------------

SECRET_FILES = {
    ".env": b"API_TOKEN=s3cr3t-env-value\n",
    "id_rsa": b"-----BEGIN OPENSSH PRIVATE KEY-----\nrsa-secret-body\n",
    "server.pem": b"-----BEGIN PRIVATE KEY-----\npem-secret-body\n",
    ".netrc": b"machine example.com login me password netrc-secret\n",
    "conf/.env.local": b"DB_PASSWORD=local-secret\n",
}


def _write(repo: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_untracked_secret_files_are_left_out_with_a_warning(repo: Path) -> None:
    _write(repo, SECRET_FILES)
    (repo / ".env.example").write_text("API_TOKEN=\n")  # a template: kept
    (repo / "keys.py").write_text("# not a secret by name\n")

    ref, done = record(repo)

    files = snapshot_entries(repo, ref)
    skipped = {item["path"]: item["reason"] for item in snapshot_json(repo, ref)["skipped"]}
    for rel, data in SECRET_FILES.items():
        assert rel not in files
        assert not object_exists(repo, data), rel
        assert skipped.get(rel) == "secret", rel
        assert f"left out {rel}" in done.stderr
        assert "secret" in done.stderr
    assert "warning" in done.stderr
    assert ".env.example" in files and "keys.py" in files
    for rel, data in SECRET_FILES.items():
        assert (repo / rel).read_bytes() == data  # the workspace keeps them


def test_a_tracked_env_file_stays_in_the_snapshot(repo: Path) -> None:
    (repo / "deploy").mkdir()
    (repo / "deploy" / ".env").write_text("MODE=committed\n")
    git(repo, "add", "deploy/.env")
    git(repo, "commit", "-q", "-m", "committed env file")
    (repo / "deploy" / ".env").write_text("MODE=edited\n")

    ref, done = record(repo)

    assert show(repo, ref, "deploy/.env") == b"MODE=edited\n"
    # Kept, as every tracked file is, with one warning per file (not one per run).
    assert done.stderr.count("deploy/.env is tracked by git and looks like a secret") == 1
    assert snapshot_json(repo, ref)["skipped"] == []
    assert_snapshot_is_git_add_all(repo, ref)
    _again, later = record(repo)
    assert "deploy/.env" not in later.stderr


def test_include_keeps_an_untracked_secret_file(repo: Path) -> None:
    _write(repo, SECRET_FILES)

    ref, done = record(repo, "--include", ".env")

    assert show(repo, ref, ".env") == SECRET_FILES[".env"]
    assert "left out .env:" not in done.stderr
    files = snapshot_entries(repo, ref)
    assert "id_rsa" not in files and "server.pem" not in files  # only what was named


# -- nested repositories -------------------------------------------------------------------


def test_a_nested_repository_is_skipped(repo: Path) -> None:
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    (nested / "lib.py").write_text("nested = True\n")
    git(nested, "add", "-A")
    git(nested, "commit", "-q", "-m", "nested")
    empty_nested = repo / "scratch-clone"
    empty_nested.mkdir()
    git(empty_nested, "init", "-q")
    (empty_nested / "wip.py").write_text("wip\n")
    (repo / "vendor" / "README.md").write_text("vendored code\n")

    ref, done = record(repo)

    files = snapshot_entries(repo, ref)
    assert not any(p.startswith(("vendor/lib", "scratch-clone")) for p in files), files
    assert show(repo, ref, "vendor/README.md") == b"vendored code\n"
    skipped = {item["path"]: item["reason"] for item in snapshot_json(repo, ref)["skipped"]}
    assert skipped["vendor/lib"] == "nested-repository"
    assert skipped["scratch-clone"] == "nested-repository"
    assert "Traceback" not in done.stderr
    assert_fsck_clean(repo)


# -- racy git ------------------------------------------------------------------------------


def test_same_size_edit_right_after_a_commit_is_seen(repo: Path) -> None:
    (repo / "lr.txt").write_text("lr=0.1\n")
    git(repo, "add", "lr.txt")
    git(repo, "commit", "-q", "-m", "lr")
    (repo / "lr.txt").write_text("lr=0.5\n")  # same size, same second

    ref, _ = record(repo)

    assert show(repo, ref, "lr.txt") == b"lr=0.5\n"
    assert_snapshot_is_git_add_all(repo, ref)


def test_same_size_edit_with_the_index_timestamp_is_seen(repo: Path) -> None:
    """The racy-git case itself: file and index carry the very same timestamp."""
    path = repo / "lr.txt"
    path.write_text("lr=0.1\n")
    git(repo, "add", "lr.txt")
    git(repo, "commit", "-q", "-m", "lr")
    stamp = path.stat().st_mtime_ns  # what the index recorded for lr.txt
    path.write_text("lr=0.5\n")
    os.utime(path, ns=(stamp, stamp))
    os.utime(repo / ".git" / "index", ns=(stamp, stamp))

    ref, _ = record(repo)

    assert show(repo, ref, "lr.txt") == b"lr=0.5\n"
    assert_snapshot_is_git_add_all(repo, ref)


# -- found while testing (first against the committed code) ---------------------------------


def test_replaced_file_with_preserved_mtime_is_seen(repo: Path) -> None:
    """Same size and mtime, new inode (rsync -t, tar, save-by-rename): git re-reads it."""
    path = repo / "lr.txt"
    path.write_text("lr=0.1\n")
    git(repo, "add", "lr.txt")
    git(repo, "commit", "-q", "-m", "lr")
    st = path.stat()
    replacement = repo / "lr.txt.new"
    replacement.write_text("lr=0.5\n")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(replacement, path)

    ref, _ = record(repo)

    assert show(repo, ref, "lr.txt") == b"lr=0.5\n"
    assert_snapshot_is_git_add_all(repo, ref)


def test_sparse_checkout_keeps_skip_worktree_files(repo: Path) -> None:
    """Files outside a sparse checkout are absent on purpose: git add -A keeps them."""
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("model\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("guide\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    git(repo, "sparse-checkout", "set", "--no-cone", "/src/")
    assert not (repo / "docs").exists()

    ref, _ = record(repo)

    assert "docs/guide.md" in snapshot_entries(repo, ref)
    assert snapshot_json(repo, ref)["deleted"] == 0
    assert_snapshot_is_git_add_all(repo, ref)


def test_gitattributes_eol_normalization_is_applied(repo: Path) -> None:
    """text=auto: a CRLF file is stored with LF, as git add -A stores it."""
    (repo / ".gitattributes").write_text("* text=auto\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    (repo / "windows.txt").write_bytes(b"edited on windows\r\nline two\r\n")

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)


def test_negated_pattern_inside_a_double_star_folder_is_kept(repo: Path) -> None:
    """'results/**' + '!results/keep.md': git enters the folder and keeps keep.md."""
    (repo / ".gitignore").write_text("data/\n*.ckpt\nresults/**\n!results/keep.md\n")
    git(repo, "commit", "-q", "-am", "ignore results")
    (repo / "results").mkdir()
    (repo / "results" / "run.log").write_text("ignored\n")
    (repo / "results" / "keep.md").write_text("kept\n")

    ref, _ = record(repo)

    assert_snapshot_is_git_add_all(repo, ref)


def test_md5_of_a_large_file_is_recorded_for_a_short_command(repo: Path) -> None:
    """The hash is computed off the start-up path, but a short run still gets it."""
    big = os.urandom(1 << 20) * 32
    (repo / "checkpoint.bin").write_bytes(big)

    ref, _ = record(repo, env={"GITEXP_MAX_FILE_SIZE": "1k"})

    skipped = {item["path"]: item for item in snapshot_json(repo, ref)["skipped"]}
    assert skipped["checkpoint.bin"]["reason"] == "too-large"
    expected = hashlib.md5(big).hexdigest()
    assert skipped["checkpoint.bin"].get("md5") == expected


def test_git_answers_give_the_snapshot_dulwich_rules_give(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gitexp run` asks git (ls-files, config) before its snapshot; entries older than
    the question are judged by git's answer, the rest by dulwich's rules. Both must give
    the same snapshot and config."""
    import time

    from gitexp.git import binary as gitbin
    from gitexp.git.repo import GitAnswers, GitRepo
    from gitexp.record import inputs
    from gitexp.record.snapshot import take_snapshot

    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    files = {
        "data/raw/a.csv": "1",
        "model.ckpt": "w",
        "src/.gitignore": "*.tmp\n",
        "src/scratch.tmp": "s",
        "src/keep.py": "x = 1\n",
        "src/deep/only.ckpt": "w",  # a folder holding only ignored files
        "logs/debug.log": "d",
        "logs/keep.txt": "k",  # re-included by a negation
        "results/out.bin": "o",  # ignored, in an ignored folder holding a tracked file
        "results/tracked.txt": "t",
        "scratch/tmp.txt": "t",  # .gitexpignore
        "local-only.txt": "l",  # info/exclude
        "notes.txt": "an untracked file that is kept",
        "nested/inner.txt": "i",  # a nested repository
    }
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    (repo / ".gitignore").write_text("data/\n*.ckpt\nlogs/*\n!logs/keep.txt\nresults/\n")
    (repo / ".gitexpignore").write_text("scratch/\n")
    (repo / ".git" / "info" / "exclude").write_text("local-only.txt\n")
    git(repo, "add", "-f", "results/tracked.txt")
    git(repo, "init", "-q", str(repo / "nested"))
    git(repo, "config", "gitexp.maxFileSize", "1k")
    (repo / "big.bin").write_bytes(b"x" * 2048)

    with GitRepo.discover(str(repo)) as plain:
        expected = take_snapshot(plain)
        expected_identity = plain.identity()
    with GitRepo.discover(str(repo)) as answered:
        later = time.time_ns() + 10**12  # every entry counts as older than git's listing
        answers = GitAnswers(
            later, gitbin.config_list(str(repo)), inputs.start_roots_query(answered)
        )
        answered.use_git_answers(answers)
        got = take_snapshot(answered)
        assert answered._ignore is None  # dulwich's rules were never needed
        assert answered.identity() == expected_identity
    assert got.files == expected.files
    assert (got.untracked, got.modified, got.deleted) == (
        expected.untracked,
        expected.modified,
        expected.deleted,
    )
    assert [(s.path, s.reason) for s in got.skipped] == [
        (s.path, s.reason) for s in expected.skipped
    ]
    assert "notes.txt" in got.untracked and "logs/keep.txt" in got.untracked
    assert ("big.bin", "too-large") in [(s.path, s.reason) for s in got.skipped]
    kept = {path.decode() for path, _, _ in got.files}
    assert not kept & {"model.ckpt", "src/scratch.tmp", "results/out.bin", "scratch/tmp.txt"}


def _wrapper_imports(repo: Path) -> set[str]:
    """Every module `gitexp run` imports (-X importtime lists them on its stderr).

    First a pause past git/binary.py's tick slack (50 ms): a file changed that close to
    when gitexp asks git for the ignored entries is judged by dulwich's ignore rules
    instead (a race guard, which imports dulwich), and these tests have just written
    the untracked files."""
    import time

    time.sleep(0.1)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitexp", "run", "--", "true"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "gitexp.cli" in imported  # the listing is real
    return imported


def test_attributes_that_change_no_content_keep_the_fast_path(repo: Path) -> None:
    """linguist hints, diff/merge drivers, and a filter on paths none of the changed files
    has: files are stored as read (a CRLF one too, as git stores it), without dulwich's
    normalizer."""
    (repo / ".gitattributes").write_text(
        "*.pt filter=lfs diff=lfs merge=lfs -text\n"
        "*.ipynb linguist-generated\n"
        '"docs/a b.md" linguist-documentation -diff\n'
        "*.csv\tdiff=csv merge=union export-ignore\n"
    )
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    (repo / "notes.txt").write_bytes(b"written on windows\r\nline two\r\n")
    (repo / "nb.ipynb").write_text('{"cells": []}\n')
    assert not any(name.split(".")[0] == "dulwich" for name in _wrapper_imports(repo))
    ref, _ = record(repo)
    assert_snapshot_is_git_add_all(repo, ref)


def test_line_ending_attributes_convert_only_files_with_a_cr(repo: Path) -> None:
    """text=auto, also in a nested .gitattributes: LF-only files take the fast path, a
    CRLF file is stored as git stores it."""
    (repo / ".gitattributes").write_text("* text=auto\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitattributes").write_text("*.dat text eol=lf\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "attributes")
    (repo / "plain.txt").write_text("only LF here\n")
    assert not any(name.split(".")[0] == "dulwich" for name in _wrapper_imports(repo))
    (repo / "windows.txt").write_bytes(b"edited on windows\r\nline two\r\n")
    (repo / "sub" / "table.dat").write_bytes(b"a\r\nb\r\n")
    ref, _ = record(repo)
    assert_snapshot_is_git_add_all(repo, ref)


def test_a_clean_filter_is_run_as_git_runs_it(repo: Path) -> None:
    git(repo, "config", "filter.upper.clean", "tr a-z A-Z")
    (repo / ".gitattributes").write_text("*.up filter=upper\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    (repo / "shout.up").write_text("quiet words\n")
    ref, _ = record(repo)
    assert git(repo, "cat-file", "-p", f"{ref}:shout.up") == "QUIET WORDS\n"
    assert_snapshot_is_git_add_all(repo, ref)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "*.bin filter=lfs diff=lfs merge=lfs -text\n",
            [("*.bin", {"filter", "diff", "merge", "text"})],
        ),
        ("# comment\n\n*.ipynb linguist-generated\n", [("*.ipynb", {"linguist-generated"})]),
        ('"a b/*.md" !eol  ident\n', [("a b/*.md", {"eol", "ident"})]),
        (
            "[attr]mine text eol=crlf\n*.x mine\n",
            [("[attr]mine", {"text", "eol"}), ("*.x", {"mine"})],
        ),
        ("*.csv\tdiff=csv\n", [("*.csv", {"diff"})]),
    ],
)
def test_attribute_lines_are_read_as_git_writes_them(
    text: str, lines: list[tuple[str, set[str]]]
) -> None:
    from gitexp.git.attributes import attribute_lines

    assert attribute_lines(text) == lines


def test_each_path_takes_the_conversion_its_attributes_ask(tmp_path: Path) -> None:
    from gitexp.git.attributes import EXACT, LINE_ENDINGS, NONE, Conversions

    (tmp_path / "root").write_text(
        "*.pt filter=lfs -text\n[attr]crlfy text eol=crlf\n*.bat crlfy\n/docs/*.md ident\n"
    )
    (tmp_path / "nested").write_text("*.csv text\n")
    files = [(str(tmp_path / "root"), ""), (str(tmp_path / "nested"), "data")]
    rules = Conversions(files, autocrlf=None)
    assert rules.for_path("models/best.pt") == EXACT
    assert rules.for_path("run.bat") == LINE_ENDINGS  # through the macro
    assert rules.for_path("docs/guide.md") == EXACT and rules.for_path("x/docs/g.md") == NONE
    assert rules.for_path("data/table.csv") == LINE_ENDINGS
    assert rules.for_path("table.csv") == NONE  # the nested file's patterns stay in data/
    assert rules.for_path("train.py") == NONE
    assert Conversions(files, autocrlf="true").for_path("train.py") == LINE_ENDINGS
