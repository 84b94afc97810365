"""Every repository layout git makes: gitexp records what ``git add -A`` would, or refuses.

Each supported layout is built once (module scope) with the real ``git`` binary: a
project with a tracked script, folders, an untracked file and an untracked secret, then
the layout's own twist.  One run is recorded in it; the quick tests check that run's
tree against git's own ``git add -A`` + ``git write-tree`` in a temporary copy of the
index (minus what snapshot.json lists as skipped), and ``git fsck --strict``.  The slow
test walks the rest of the workflow: a second run, diff, branch, rerun, push to a local
bare remote, pull and restore in a fresh clone.  The layouts gitexp cannot write
(SHA-256 objects, reftable refs) and a bare repository are refused with their exit code
before anything is written.  docs/format.md, "Repository layouts", is the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import git, gitexp, pin_environment

from gitexp.errors import EXIT_REPO_STATE, RepositoryStateError
from gitexp.git.layout import check_supported, read_config

PASS = (sys.executable, "-c", "pass")
ODD_NAMES = (b"new\nline.txt", b"caf\xe9.txt")  # a newline; Latin-1, not UTF-8


# -- git, byte for byte ------------------------------------------------------------------


def git_bytes(
    cwd: Path, *args: str, env: dict[str, str] | None = None, input: bytes = b""
) -> bytes:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr.decode(errors="replace"))
    return done.stdout


def tree_files(cwd: Path, tree: str) -> dict[bytes, tuple[bytes, bytes]]:
    """{path: (mode, object id)} of every non-tree entry of ``tree``, recursively."""
    found = {}
    for item in git_bytes(cwd, "ls-tree", "-r", "-z", "--full-tree", tree).split(b"\0"):
        if item:
            meta, path = item.split(b"\t", 1)
            mode, _kind, sha = meta.split()
            found[path] = (mode, sha)
    return found


def git_add_all_tree(cwd: Path, leave_out: list[str]) -> str:
    """The tree git writes after ``git add -A`` in a copy of the real index, without the
    paths gitexp listed as skipped."""
    real = Path(
        git_bytes(cwd, "rev-parse", "--path-format=absolute", "--git-path", "index")
        .decode()
        .strip()
    )
    copy = cwd.parent / f"add-all-{os.urandom(4).hex()}.index"
    if real.exists():
        copy.write_bytes(real.read_bytes())
        os.utime(copy, ns=(real.stat().st_atime_ns, real.stat().st_mtime_ns))  # racy git
    env = {"GIT_INDEX_FILE": str(copy), "GIT_LITERAL_PATHSPECS": "1"}
    try:
        git_bytes(cwd, "add", "-A", env=env)
        if leave_out:
            git_bytes(cwd, "rm", "-q", "--cached", "--ignore-unmatch", "--", *leave_out, env=env)
        return git_bytes(cwd, "write-tree", env=env).decode().strip()
    finally:
        copy.unlink(missing_ok=True)


def snapshot_tree(cwd: Path, ref: str) -> str:
    """The run's root tree without ``.gitexp`` (and an artifacts pointer), as git's mktree
    writes it: the same id as git's own tree when the snapshot is git's."""
    top = git_bytes(cwd, "ls-tree", "-z", f"{ref}^{{tree}}").split(b"\0")
    kept = [e for e in top if e and e.split(b"\t", 1)[1] != b".gitexp"]
    return git_bytes(cwd, "mktree", "-z", input=b"".join(e + b"\0" for e in kept)).decode().strip()


def read_json(cwd: Path, ref: str, name: str) -> dict:
    return json.loads(git_bytes(cwd, "show", f"{ref}:.gitexp/{name}"))


def run_ids(cwd: Path) -> list[str]:
    out = git(cwd, "for-each-ref", "--sort=creatordate", "--format=%(refname)", "refs/gitexp/runs")
    return [line.rsplit("/", 1)[1] for line in out.split()]


def record(cwd: Path, *options: str) -> str:
    before = set(run_ids(cwd))
    done = gitexp("run", *options, "--", *PASS, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (new,) = set(run_ids(cwd)) - before
    return new


def pack_count(cwd: Path) -> int:
    """Packs in the object store: a lazy fetch of a partial clone adds one."""
    common = Path(
        git_bytes(cwd, "rev-parse", "--path-format=absolute", "--git-common-dir").decode().strip()
    )
    return len(list((common / "objects" / "pack").glob("*.pack")))


# -- the layouts ------------------------------------------------------------------------


def populate(repo: Path) -> None:
    """The project every layout starts from: committed code in folders, then an edit, an
    untracked file and an untracked secret (left out by gitexp, listed as skipped)."""
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("depth = 2\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# guide\n")
    (repo / "train.py").write_text("print('train')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project")


def edit(repo: Path) -> None:
    with open(repo / "train.py", "a") as handle:
        handle.write("print('edited')\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    (repo / "local.env").write_text("TOKEN=not-for-git\n")


def new_repo(where: Path, *init: str) -> Path:
    where.mkdir()
    git(where, "init", "-q", *init)
    populate(where)
    return where


def plain(base: Path) -> Path:
    repo = new_repo(base / "project")
    edit(repo)
    return repo


def sparse_cone(base: Path) -> Path:
    repo = new_repo(base / "project")
    git(repo, "sparse-checkout", "set", "--cone", "--no-sparse-index", "src")
    assert not (repo / "docs").exists()
    edit(repo)
    return repo


def sparse_index(base: Path) -> Path:
    repo = new_repo(base / "project")
    git(repo, "sparse-checkout", "set", "--cone", "--sparse-index", "src")
    assert b"040000" in git_bytes(repo, "ls-files", "--sparse", "-s")  # a folder entry
    edit(repo)
    return repo


def split_index(base: Path) -> Path:
    repo = new_repo(base / "project")
    (repo / ".env").write_text("DEBUG=1\n")  # tracked on purpose: it must stay tracked
    git(repo, "add", ".env")
    git(repo, "commit", "-q", "-m", "env")
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "update-index", "--split-index")
    (repo / "src" / "model.py").write_text("depth = 3\n")
    git(repo, "add", "src/model.py")  # an entry in the split part, the rest in the shared one
    assert list((repo / ".git").glob("sharedindex.*"))
    edit(repo)
    return repo


def index_v4(base: Path) -> Path:
    repo = new_repo(base / "project")
    git(repo, "update-index", "--index-version", "4")
    edit(repo)
    return repo


def caches(base: Path) -> Path:
    """Untracked cache and fsmonitor (a hook that says "anything may have changed"), with
    the end-of-index and offset-table extensions git writes for threaded reading."""
    repo = new_repo(base / "project")
    hook = repo.parent / "fsmonitor-hook"
    hook.write_text("#!/bin/sh\nprintf 'token\\0/\\0'\n")
    hook.chmod(0o755)
    git(repo, "config", "core.untrackedCache", "true")
    git(repo, "config", "core.fsmonitor", str(hook))
    git(repo, "config", "core.fsmonitorHookVersion", "2")
    git(repo, "config", "index.recordEndOfIndexEntries", "true")
    git(repo, "config", "index.recordOffsetTable", "true")
    git(repo, "config", "index.threads", "4")  # IEOT is written for threaded readers only
    git(repo, "update-index", "--untracked-cache")
    edit(repo)
    git(repo, "status", "--porcelain")  # writes the extensions into the index
    data = (repo / ".git" / "index").read_bytes()
    assert all(name in data for name in (b"UNTR", b"FSMN", b"EOIE", b"IEOT")), data[-200:]
    return repo


def linked_worktree(base: Path) -> Path:
    main = new_repo(base / "main")
    git(main, "worktree", "add", "-q", "-b", "side", str(base / "project"))
    repo = base / "project"
    edit(repo)
    return repo


def submodule(base: Path) -> Path:
    library = new_repo(base / "library")
    repo = new_repo(base / "project")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    git(repo, "commit", "-q", "-m", "submodule")
    (repo / "lib" / "train.py").write_text("print('moved on')\n")
    git(repo / "lib", "commit", "-q", "-am", "library moves on")  # HEAD != the gitlink
    (repo / "lib" / "src" / "model.py").write_text("depth = 9\n")  # and is dirty
    edit(repo)
    return repo


def _origin(base: Path) -> Path:
    origin = new_repo(base / "origin")
    (origin / "train.py").write_text("print('second')\n")
    git(origin, "commit", "-q", "-am", "second")
    git(origin, "config", "uploadpack.allowFilter", "true")
    return origin


def shallow(base: Path) -> Path:
    origin = _origin(base)
    git(base, "clone", "-q", "--depth", "1", f"file://{origin}", "project")
    repo = base / "project"
    assert (repo / ".git" / "shallow").exists()
    edit(repo)
    return repo


def partial(base: Path) -> Path:
    origin = _origin(base)
    git(base, "clone", "-q", "--filter=blob:none", f"file://{origin}", "project")
    repo = base / "project"
    assert git(repo, "config", "remote.origin.promisor").strip() == "true"
    edit(repo)
    return repo


def autocrlf(base: Path) -> Path:
    repo = base / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "core.autocrlf", "true")
    populate(repo)
    (repo / "windows.txt").write_bytes(b"line one\r\nline two\r\n")
    git(repo, "add", "windows.txt")
    git(repo, "commit", "-q", "-m", "crlf")
    (repo / "windows.txt").write_bytes(b"line one\r\nline 2\r\n")
    (repo / "new-windows.txt").write_bytes(b"a\r\nb\r\n")
    edit(repo)
    return repo


POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def lfs_pointers(base: Path) -> Path:
    """Pointer files under filter=lfs, with no git-lfs set up: stored as they are."""
    repo = new_repo(base / "project")
    (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "model.bin").write_bytes(POINTER)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lfs pointer")
    (repo / "weights.bin").write_bytes(POINTER.replace(b"12345", b"999"))
    (repo / "raw.bin").write_bytes(b"not a pointer: git stores it as it is\n")
    edit(repo)
    return repo


def odd_names(base: Path) -> Path:
    repo = new_repo(base / "project")
    root = os.fsencode(repo)
    for name in ODD_NAMES:
        with open(os.path.join(root, b"tracked-" + name), "wb") as handle:
            handle.write(b"tracked\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "odd names")
    for name in ODD_NAMES:
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(name + b"\n")
    edit(repo)
    return repo


LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "plain": plain,
    "sparse-cone": sparse_cone,
    "sparse-index": sparse_index,
    "split-index": split_index,
    "index-v4": index_v4,
    "untracked-cache-fsmonitor": caches,
    "linked-worktree": linked_worktree,
    "submodule": submodule,
    "shallow": shallow,
    "partial": partial,
    "autocrlf": autocrlf,
    "lfs-pointers": lfs_pointers,
    "odd-names": odd_names,
}


class Built:
    """A layout's repository with one run recorded in it."""

    def __init__(self, name: str, base: Path, repo: Path, run: str, packs: int) -> None:
        self.name, self.base, self.repo, self.run = name, base, repo, run
        self.packs_before = packs
        self.ref = f"refs/gitexp/runs/{run}"


@pytest.fixture(scope="module", params=list(LAYOUTS))
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    with pytest.MonkeyPatch.context() as patch:
        pin_environment(patch, tmp_path_factory.mktemp("home"))
        base = tmp_path_factory.mktemp(request.param)
        repo = LAYOUTS[request.param](base)
        packs = pack_count(repo)
        yield Built(request.param, base, repo, record(repo), packs)


# -- the run is what git add -A would commit ----------------------------------------------


def test_snapshot_is_git_add_all_and_fsck_is_clean(built: Built) -> None:
    repo, ref = built.repo, built.ref
    skipped = [item["path"] for item in read_json(repo, ref, "snapshot.json")["skipped"]]
    assert skipped == ["local.env"]  # the untracked secret, and nothing else
    assert snapshot_tree(repo, ref) == git_add_all_tree(repo, skipped)
    done = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pack_count(repo) == built.packs_before  # nothing fetched (a partial clone)


def test_ls_and_show_read_the_run(built: Built) -> None:
    listed = gitexp("ls", "--json", cwd=built.repo)
    assert listed.returncode == 0, listed.stderr
    assert built.run in listed.stdout
    shown = gitexp("show", built.run, cwd=built.repo)
    assert shown.returncode == 0, shown.stderr
    assert "train.py" in shown.stdout  # the edit, against the baseline


LAYOUT_WORDS = {  # what `gitexp doctor` names for each layout
    "sparse-cone": "sparse checkout",
    "sparse-index": "sparse checkout, sparse index",
    "split-index": "split index",
    "index-v4": "index version 4",
    "untracked-cache-fsmonitor": "untracked cache, fsmonitor",
    "linked-worktree": "linked worktree",
    "submodule": "submodules",
    "shallow": "shallow clone",
    "partial": "partial clone",
}


def test_doctor_names_the_layout(built: Built) -> None:
    done = gitexp("doctor", "--json", cwd=built.repo)
    checks = {check["check"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["layout"]["status"] == "ok"
    assert checks["layout"]["message"] == LAYOUT_WORDS.get(built.name, "plain")


def test_layout_details(built: Built) -> None:
    """What each layout's twist must give, beyond the tree."""
    repo, ref = built.repo, built.ref
    files = tree_files(repo, f"{ref}^{{tree}}")
    snapshot = read_json(repo, ref, "snapshot.json")
    if built.name == "split-index":
        assert b".env" in files  # tracked: never taken for an untracked secret
        assert snapshot["untracked"] == 1  # notes.txt, nothing the shared index holds
    elif built.name.startswith("sparse"):
        assert b"docs/guide.md" in files  # outside the cone, kept as committed
        assert snapshot["deleted"] == 0
    elif built.name == "submodule":
        head = git(repo / "lib", "rev-parse", "HEAD").strip()
        assert files[b"lib"] == (b"160000", head.encode())
        assert snapshot["submodules"] == [{"path": "lib", "commit": head, "dirty": True}]
    elif built.name == "lfs-pointers":
        assert git_bytes(repo, "show", f"{ref}:model.bin") == POINTER
        assert b"999" in git_bytes(repo, "show", f"{ref}:weights.bin")
        assert git_bytes(repo, "show", f"{ref}:raw.bin").startswith(b"not a pointer")
        assert not (repo / ".git" / "lfs").exists()
    elif built.name == "odd-names":
        for name in ODD_NAMES:
            assert name in files and b"tracked-" + name in files
    elif built.name == "autocrlf":
        assert git_bytes(repo, "show", f"{ref}:new-windows.txt") == b"a\nb\n"


# -- the rest of the workflow ----------------------------------------------------------------


@pytest.mark.slow
def test_workflow_diff_branch_rerun_push_pull_restore(built: Built) -> None:
    repo, first = built.repo, built.run
    (repo / "notes.txt").write_text("second run\n")
    second = record(repo)

    for args in (
        ("diff", first, second),
        ("branch", first, f"from-{first}"),
        ("rerun", first, "--yes"),
    ):
        done = gitexp(*args, cwd=repo, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    branch_tree = git(repo, "rev-parse", f"from-{first}^{{tree}}").strip()
    assert branch_tree == snapshot_tree(repo, built.ref)

    # Share through a remote: the layout's own origin, else a bare copy of this project.
    remote = built.base / "origin"
    if not remote.exists():
        remote = built.base / "remote.git"
        git(built.base, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "lab", str(remote))
    pushed = gitexp("push", "lab", cwd=repo, timeout=120)
    assert pushed.returncode == 0, pushed.stderr
    fresh = built.base / f"fresh-{os.urandom(3).hex()}"
    git(built.base, "clone", "-q", str(remote), str(fresh))
    pulled = gitexp("pull", "origin", cwd=fresh, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    restored = gitexp("restore", first, "--force", cwd=fresh)
    assert restored.returncode == 0, restored.stderr
    expected = {
        path: entry
        for path, entry in tree_files(repo, snapshot_tree(repo, built.ref)).items()
        if entry[0] != b"160000"  # submodules are not restored (docs/cli.md)
    }
    rebuilt = tree_files(fresh, git_add_all_tree(fresh, []))
    assert {p: e for p, e in rebuilt.items() if e[0] != b"160000"} == expected
    assert pack_count(repo) == built.packs_before


# -- the layouts gitexp refuses --------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("run", "--", *PASS), ("ls",), ("show", "latest"), ("push",), ("install",)],
    ids=["run", "ls", "show", "push", "install"],
)
def test_sha256_repository_is_refused_before_anything_is_written(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    repo = new_repo(tmp_path / "project", "--object-format=sha256")
    edit(repo)
    before = sum(len(files) for _, _, files in os.walk(repo / ".git" / "objects"))

    done = gitexp(*command, cwd=repo)

    assert done.returncode == 6, done.stderr
    assert done.stderr.startswith("gitexp: error:"), done.stderr
    assert "SHA-256" in done.stderr and "extensions.objectFormat" in done.stderr
    assert "Traceback" not in done.stderr
    assert sum(len(files) for _, _, files in os.walk(repo / ".git" / "objects")) == before
    assert not (repo / ".git" / "refs" / "gitexp").exists()
    assert (
        subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True).returncode == 0
    )


def test_a_script_in_a_sha256_repository_trains_unrecorded_with_a_warning(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "project", "--object-format=sha256")
    script = (
        "import gitexp\n"
        "gitexp.init(config={'lr': 0.1})\n"
        "gitexp.log({'loss': 0.5})\n"
        "gitexp.finish()\n"
        "print('trained')\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained\n"
    assert "SHA-256" in done.stderr and "Traceback" not in done.stderr
    doctor = gitexp("doctor", "--json", cwd=repo)
    assert doctor.returncode == 6
    (layout,) = [c for c in json.loads(doctor.stdout)["checks"] if c["check"] == "layout"]
    assert layout["status"] == "fail" and "SHA-256" in layout["message"]


def test_reftable_refs_are_refused(tmp_path: Path) -> None:
    """git 2.39 cannot make a reftable: the config says it, as a newer git writes it."""
    repo = new_repo(tmp_path / "project")
    git(repo, "config", "core.repositoryformatversion", "1")
    git(repo, "config", "extensions.refStorage", "reftable")

    for command in (("run", "--", *PASS), ("ls",)):
        done = gitexp(*command, cwd=repo)
        assert done.returncode == 6, done.stderr
        assert "reftable" in done.stderr and "extensions.refStorage" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (repo / ".git" / "refs" / "gitexp").exists()


def test_bare_repository_has_no_work_tree(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))

    done = gitexp("run", "--", *PASS, cwd=bare)

    assert done.returncode == 3, done.stderr
    assert "bare" in done.stderr and "Traceback" not in done.stderr


# -- the config reader behind the detection ----------------------------------------------


def test_layout_config_reader_follows_git_syntax(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[core]\n\trepositoryformatversion = 1 ; a comment\n"
        '[remote "origin"]\n\turl = file:///x\n\tpromisor\n'
        "# [extensions] objectformat = sha256 (a comment, not a section)\n"
        '[Extensions] ObjectFormat = "SHA256"\n'
    )
    values = read_config(str(config))
    assert values["core.repositoryformatversion"] == "1"
    assert values["remote.promisor"] == "true"  # a key without a value is true
    assert values["extensions.objectformat"] == "SHA256"
    with pytest.raises(RepositoryStateError) as refused:
        check_supported(str(tmp_path))
    assert refused.value.exit_code == EXIT_REPO_STATE
    assert "SHA-256" in refused.value.message and refused.value.hint
    assert read_config(str(tmp_path / "missing")) == {}
