"""Artifacts: recorded into DVC's cache in DVC's layout, pointers in the run's tree,
restored with hashes checked, collected by ``gitexp gc``, safe from ``dvc gc``.

The DVC remote here is a local folder (the S3 one is in test_sharing.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import git, gitexp, run_refs
from sharing_servers import clone, dvc, dvc_env_fixture, dvc_setup, ok  # noqa: F401 - fixture

PY = sys.executable


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _cached(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _store_objects(store: Path) -> set[str]:
    return {p.parent.name + p.name for p in (store / "files" / "md5").glob("*/*")}


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    """``repo`` (conftest) with DVC set up, a local-folder DVC remote and a bare origin."""
    dvc_setup(repo, str(tmp_path / "dvcstore"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Set up DVC")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


WRITE = (
    "import os, sys\n"
    "os.makedirs('outputs/sub', exist_ok=True)\n"
    "open('outputs/a.txt', 'w').write('a ' + sys.argv[1])\n"
    "open('outputs/sub/b.txt', 'w').write('always the same')\n"
    "open('model.ckpt', 'wb').write(b'weights ' * 100 + sys.argv[1].encode())\n"
    "open('config.yaml', 'w').write('overwritten by the run\\n')\n"
)


def _record(project: Path, tag: str, *extra: str) -> str:
    (project / "write.py").write_text(WRITE)
    before = set(run_refs(project))
    ok(
        "run", "--out", "outputs", "--out", "model.ckpt", "--out", "config.yaml", *extra,
        "--", PY, "write.py", tag, cwd=project, env={"GITEXP_MAX_FILE_SIZE": "1k"},
    )  # fmt: skip
    (new,) = set(run_refs(project)) - before
    return new


def test_outputs_and_large_files_go_to_dvc_cache_and_pointers_into_the_run(
    project: Path,
) -> None:
    (project / "big.bin").write_bytes(os.urandom(5000))  # untracked, over the 1k limit
    status_before = git(project, "status", "--porcelain", "--ignored")
    run_id = _record(project, "one")
    ref = f"refs/gitexp/runs/{run_id}"
    files = git(project, "ls-tree", "-r", "--name-only", ref).split()
    assert ".gitexp-artifacts.dvc" in files and ".gitexp/artifacts.json" in files
    assert "config.yaml" not in files  # the output supersedes the snapshot's copy
    pointer = yaml.safe_load(git(project, "show", f"{ref}:.gitexp-artifacts.dvc"))
    outs = {out["path"]: out for out in pointer["outs"]}
    assert set(outs) == {"outputs", "model.ckpt", "config.yaml", "big.bin"}
    assert outs["outputs"]["md5"].endswith(".dir") and outs["outputs"]["nfiles"] == 2
    assert all(out["hash"] == "md5" for out in outs.values())
    model = (project / "model.ckpt").read_bytes()
    assert outs["model.ckpt"] == {
        "md5": _md5(model),
        "size": len(model),
        "hash": "md5",
        "path": "model.ckpt",
    }
    listing = json.loads(git(project, "show", f"{ref}:.gitexp/artifacts.json"))
    kinds = {item["path"]: item["kind"] for item in listing["artifacts"]}
    assert kinds == {
        "outputs": "output",
        "model.ckpt": "output",
        "config.yaml": "output",
        "big.bin": "large-file",
    }
    snapshot = json.loads(git(project, "show", f"{ref}:.gitexp/snapshot.json"))
    assert snapshot["skipped"][0]["path"] == "big.bin" and snapshot["skipped"][0]["artifact"]
    # DVC's own layout: files/md5/<2>/<30>, folders as a .dir manifest listing the files.
    assert _cached(project, _md5(model)).read_bytes() == model
    manifest = json.loads(_cached(project, outs["outputs"]["md5"]).read_text())
    assert {entry["relpath"] for entry in manifest} == {"a.txt", "sub/b.txt"}
    # The work tree: nothing but what the command wrote (and DVC's cache, in .dvc/).
    status_after = git(project, "status", "--porcelain", "--ignored")
    new_lines = set(status_after.splitlines()) - set(status_before.splitlines())
    assert new_lines == {
        " M config.yaml",
        "!! model.ckpt",
        "?? outputs/",
        "?? write.py",
        "!! .dvc/cache/",
    }


@pytest.mark.slow
def test_identical_content_is_stored_once_and_pushed_once(project: Path, tmp_path: Path) -> None:
    _record(project, "one")
    _record(project, "two")
    ok("push", cwd=project)
    store = _store_objects(tmp_path / "dvcstore")
    same = _md5(b"always the same")
    assert same in store
    # each run: outputs/.dir, a.txt, model.ckpt, config.yaml; shared: b.txt, config.yaml
    assert len(store) == 2 * 4 - 1 + 1


def test_log_artifact_from_a_script_run_directly_without_importing_dvc(project: Path) -> None:
    (project / "script.py").write_text(
        "import sys\n"
        "import gitexp\n"
        "run = gitexp.init()\n"
        "open('result.csv', 'w').write('x,y\\n1,2\\n')\n"
        "gitexp.log({'loss': 1.0})\n"
        "gitexp.log_artifact('result.csv', name='table', type='dataset')\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dvc', 'dvc_data', 'tqdm')]\n"
        "gitexp.finish()\n"
    )
    done = subprocess.run([PY, "script.py"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(project)
    listing = json.loads(git(project, "show", f"refs/gitexp/runs/{run_id}:.gitexp/artifacts.json"))
    (item,) = listing["artifacts"]
    assert item["path"] == "result.csv" and item["kind"] == "logged"
    assert item["name"] == "table" and item["type"] == "dataset"


def test_out_without_a_dvc_project_is_refused_before_the_command_runs(repo: Path) -> None:
    done = gitexp("run", "--out", "model.ckpt", "--", PY, "-c", "open('ran', 'w')", cwd=repo)
    assert done.returncode == 6
    assert "dvc init" in done.stderr and "no DVC project" in done.stderr
    assert not (repo / "ran").exists() and run_refs(repo) == {}
    done = gitexp("run", "--out", "../outside", "--", PY, "-c", "1", cwd=repo)
    assert done.returncode == 2 and "inside" in done.stderr


@pytest.mark.slow
def test_restore_from_cache_or_remote_checks_hashes(project: Path, tmp_path: Path) -> None:
    run_id = _record(project, "one")
    ok("push", cwd=project)
    expected = {
        p: (project / p).read_bytes() for p in ("outputs/a.txt", "outputs/sub/b.txt", "model.ckpt")
    }
    # Another machine: clone, fetch the run only, restore: artifacts come from the remote.
    other = clone(str(tmp_path / "origin.git"), tmp_path / "other")
    ok("pull", "--no-artifacts", cwd=other)
    assert not (other / ".dvc" / "cache").exists()
    ok("restore", run_id[:6], cwd=other)
    for path, data in expected.items():
        assert (other / path).read_bytes() == data
    assert (other / "config.yaml").read_text() == "overwritten by the run\n"
    # Already in place: nothing to write; a changed artifact file is uncommitted work.
    (other / "model.ckpt").write_bytes(b"my own edit")
    done = gitexp("restore", run_id, cwd=other)
    assert done.returncode == 6 and "model.ckpt" in done.stderr
    # A damaged cache file is refused, never written into the work tree.
    cached = _cached(other, _md5(expected["model.ckpt"]))
    os.chmod(cached, stat.S_IRUSR | stat.S_IWUSR)
    cached.write_bytes(b"bit rot")
    done = gitexp("restore", run_id, "--force", cwd=other)
    assert done.returncode != 0 and "damaged" in done.stderr
    assert (other / "model.ckpt").read_bytes() == b"my own edit"
    # DVC alone, after a restore: the pointer file is in the work tree.
    cached.unlink()
    (other / "model.ckpt").unlink()
    dvc(other, "pull")
    assert (other / "model.ckpt").read_bytes() == expected["model.ckpt"]


@pytest.mark.slow
def test_a_path_names_an_artifact_as_it_names_a_file(project: Path) -> None:
    """Artifacts are not in the run's tree, yet ``restore RUN PATH`` selects them."""
    run_id = _record(project, "one")
    expected = (project / "model.ckpt").read_bytes()
    (project / "model.ckpt").unlink()
    shutil.rmtree(project / "outputs")
    ok("restore", run_id, "model.ckpt", cwd=project)
    assert (project / "model.ckpt").read_bytes() == expected
    assert not (project / "outputs").exists()  # not selected
    ok("restore", run_id, "outputs/sub/b.txt", cwd=project)  # inside a folder artifact
    assert (project / "outputs" / "sub" / "b.txt").read_text() == "always the same"
    done = gitexp("restore", run_id, "nosuch", cwd=project)
    assert done.returncode == 2 and "nosuch is not in the run's snapshot" in done.stderr


@pytest.mark.slow
def test_gc_removes_what_no_run_uses_and_keeps_dvc_data(project: Path, tmp_path: Path) -> None:
    (project / "data.txt").write_text("the user's own DVC data\n")
    dvc(project, "add", "-q", "data.txt")
    git(project, "add", "data.txt.dvc", ".gitignore")
    git(project, "commit", "-q", "-m", "data")
    dvc(project, "push", "-q")
    first = _record(project, "one")
    second = _record(project, "two")
    ok("push", cwd=project)
    store = tmp_path / "dvcstore"
    gone = _md5(b"weights " * 100 + b"one")
    assert gone in _store_objects(store)
    ok("rm", "--remote", "origin", first, cwd=project)
    dry = json.loads(ok("gc", "--cloud", "--keep-recent", "0", "--dry-run", "--json", cwd=project))
    assert gone in dry[0]["removed"] and gone in _store_objects(store)
    kept = json.loads(ok("gc", "--keep-recent", "1h", "--json", cwd=project))
    assert kept[0]["removed"] == [] and kept[0]["kept_recent"] > 0
    done = json.loads(ok("gc", "--cloud", "--keep-recent", "0", "--json", cwd=project))
    assert {r["where"] for r in done} == {"cache", "remote store"}
    assert gone not in _store_objects(store) and not _cached(project, gone).exists()
    for still in (_md5(b"weights " * 100 + b"two"), _md5(b"always the same")):
        assert still in _store_objects(store) and _cached(project, still).exists()
    assert _md5(b"the user's own DVC data\n") in _store_objects(store)
    ok("restore", second, "--force", cwd=project)


@pytest.mark.slow
def test_dvc_gc_usual_cleanups_keep_pushed_runs_artifacts(project: Path, tmp_path: Path) -> None:
    run_id = _record(project, "one")
    ok("push", cwd=project)
    store = tmp_path / "dvcstore"
    pushed = _store_objects(store)
    # A DVC user's clean-ups: the local cache, then cache and remote for all commits.
    dvc(project, "gc", "--workspace", "--force")
    dvc(project, "gc", "--workspace", "--all-commits", "--cloud", "--force")
    assert _store_objects(store) == pushed
    other = clone(str(tmp_path / "origin.git"), tmp_path / "other")
    ok("pull", cwd=other)
    ok("restore", run_id, cwd=other)
    assert (other / "model.ckpt").read_bytes() == b"weights " * 100 + b"one"


def _cache_listing(repo: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every folder and file of the DVC cache: its mode, and a file's bytes."""
    cache = repo / ".dvc" / "cache"
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(cache.rglob("*")):
        mode = stat.S_IMODE(path.stat().st_mode)
        out[str(path.relative_to(cache))] = (mode, None if path.is_dir() else path.read_bytes())
    return out


def test_a_file_is_cached_exactly_as_dvc_add_caches_it(project: Path, tmp_path: Path) -> None:
    text = b"id,value\r\n" + b"1,2\r\n" * 400  # text with CRLF: DVC 3 hashes the bytes as they are
    (project / "table.csv").write_bytes(text)  # untracked, over the 1k limit, and an output
    (project / "tool.sh").write_bytes(b"#!/bin/sh\necho hi\n")  # small, executable
    os.chmod(project / "tool.sh", 0o755)
    (project / "big.bin").write_bytes(os.urandom(3000))  # a large file that is no output
    old = 1_600_000_000
    for name in ("table.csv", "big.bin"):
        os.utime(project / name, (old, old))
    ok(
        "run", "--out", "table.csv", "--out", "tool.sh", "--", "true",
        cwd=project, env={"GITEXP_MAX_FILE_SIZE": "1k"},
    )  # fmt: skip
    (run_id,) = run_refs(project)
    ref = f"refs/gitexp/runs/{run_id}"
    pointer_text = git(project, "show", f"{ref}:.gitexp-artifacts.dvc")
    outs = {out["path"]: out for out in yaml.safe_load(pointer_text)["outs"]}
    assert outs["table.csv"]["md5"] == _md5(text)  # plain MD5, no line-end normalization
    assert outs["tool.sh"]["isexec"] is True
    snapshot = json.loads(git(project, "show", f"{ref}:.gitexp/snapshot.json"))
    hashed = {item["path"]: item.get("md5") for item in snapshot["skipped"]}
    # An --out path is no code (reason "output"): hashed when the run ends, not before.
    assert hashed == {"big.bin": outs["big.bin"]["md5"], "table.csv": None, "tool.sh": None}
    ours = _cache_listing(project)
    assert not [name for name in ours if name.endswith(".tmp")]
    # The pointer as `gitexp restore` writes it: DVC finds the work tree and the cache in
    # step with it, and checks a deleted file out of gitexp's cache.
    (project / ".gitexp-artifacts.dvc").write_text(pointer_text)
    assert "up to date" in dvc(project, "status", ".gitexp-artifacts.dvc").stdout
    (project / "table.csv").unlink()
    dvc(project, "checkout", ".gitexp-artifacts.dvc")
    assert (project / "table.csv").read_bytes() == text
    (project / ".gitexp-artifacts.dvc").unlink()
    # DVC itself, from an empty cache: the same objects, bytes and modes; the same outs.
    shutil.rmtree(project / ".dvc" / "cache")
    dvc(project, "add", "-q", "table.csv", "tool.sh", "big.bin")
    assert _cache_listing(project) == ours
    for name in ("table.csv", "tool.sh", "big.bin"):
        (out,) = yaml.safe_load((project / f"{name}.dvc").read_text())["outs"]
        assert out == outs[name]


def test_an_output_the_run_rewrites_is_hashed_as_it_ends(project: Path) -> None:
    (project / "model.ckpt").write_bytes(b"old " * 1000)  # large, ignored, hashed at the start
    os.utime(project / "model.ckpt", (1_600_000_000, 1_600_000_000))
    new = b"new " * 1000  # the same size: only the times tell the files apart
    script = f"import time; time.sleep(0.5); open('model.ckpt', 'wb').write({new!r})"
    ok(
        "run", "--out", "model.ckpt", "--", PY, "-c", script,
        cwd=project, env={"GITEXP_MAX_FILE_SIZE": "1k"},
    )  # fmt: skip
    (run_id,) = run_refs(project)
    listing = json.loads(git(project, "show", f"refs/gitexp/runs/{run_id}:.gitexp/artifacts.json"))
    (item,) = listing["artifacts"]
    assert item["md5"] == _md5(new)
    assert _cached(project, _md5(new)).read_bytes() == new
    assert not _cached(project, _md5(b"old " * 1000)).exists()


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="reads /proc/self/io")
def test_a_large_output_is_read_once_to_hash_and_once_to_copy(project: Path) -> None:
    size = 128 << 20
    with open(project / "big.bin", "wb") as handle:
        handle.truncate(size)  # sparse: nothing to write, but all of it to read
    os.utime(project / "big.bin", (1_600_000_000, 1_600_000_000))
    # gitexp in this process's child, which reports the bytes it read when it exits
    report = project.parent / "io.txt"
    wrapper = (
        "import atexit, runpy, sys\n"
        "def report():\n"
        f"    open({str(report)!r}, 'w').write(open('/proc/self/io').read())\n"
        "atexit.register(report)\n"
        "sys.argv = ['gitexp', 'run', '--out', 'big.bin', '--', 'true']\n"
        "runpy.run_module('gitexp', run_name='__main__', alter_sys=True)\n"
    )
    done = subprocess.run([PY, "-c", wrapper], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (run_id,) = run_refs(project)
    ref = f"refs/gitexp/runs/{run_id}"
    expected = _md5(b"\0" * size)
    (skipped,) = json.loads(git(project, "show", f"{ref}:.gitexp/snapshot.json"))["skipped"]
    (item,) = json.loads(git(project, "show", f"{ref}:.gitexp/artifacts.json"))["artifacts"]
    assert skipped["reason"] == "output" and "md5" not in skipped  # hashed as the run ends
    assert item["md5"] == expected
    assert _cached(project, expected).stat().st_size == size
    counters = dict(line.split(": ") for line in report.read_text().splitlines())
    # one read to hash, one to copy; no third pass
    assert int(counters["rchar"]) < 2.5 * size
