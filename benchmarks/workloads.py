"""Workloads the benchmarks build for themselves, in a temporary folder.

Every workload is a real git repository made with git itself: synthetic source trees
(one modified and one untracked file, as a researcher's work tree usually is), a
repository holding many runs (one or two recorded by gitexp, the rest synthesized with
``git fast-import`` from a real run's commit, so they are valid runs in format 1), and
large files for the artifact rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
GITEXP = [PY, "-m", "gitexp"]
RUN_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # docs/format.md
# Source files older than the index: git (and gitexp) trust the index's stat data for
# them.  Files written in the same second as the index are "racily clean" and would be
# re-read on every snapshot, which no real work tree does for long.
OLD_MTIME = 1_700_000_000


def sh(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: bytes = b"") -> str:
    """Run a command that must succeed; its stdout (stderr goes into the error)."""
    done = subprocess.run(list(args), cwd=cwd, env=env, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited with {done.returncode} in {cwd}:\n"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done.stdout.decode(errors="replace")


def source_repo(root: Path, name: str, files: int) -> Path:
    """A committed repository of ``files`` small Python files in nested folders.

    Layout: 40 packages of 5 folders, so folders hold
    ``files / 200`` files each.  Afterwards one tracked file is modified and one
    untracked file added.
    """
    repo = root / name
    repo.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    made: set[Path] = set()
    for i in range(files):
        folder = repo / f"pkg{i % 40}" / f"sub{(i // 40) % 5}"
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        path = folder / f"f{i}.py"
        path.write_text(f"# file {i}\nx = {i}\n" * 20)
        os.utime(path, (OLD_MTIME, OLD_MTIME))
    (repo / ".gitignore").write_text("data/\n")
    os.utime(repo / ".gitignore", (OLD_MTIME, OLD_MTIME))
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "init", cwd=repo)
    with open(repo / "pkg0" / "sub0" / "f0.py", "a") as handle:
        handle.write("# edited\n")
    (repo / "untracked.txt").write_text("new\n")
    return repo


def with_attributes(source: Path, dest: Path, attributes: str) -> Path:
    """A copy of ``source`` whose commit adds a ``.gitattributes`` holding ``attributes``;
    one tracked file modified and one untracked, as in ``source_repo``."""
    repo = copy_repo(source, dest)
    (repo / ".gitattributes").write_text(attributes)
    sh("git", "add", ".gitattributes", cwd=repo)
    sh("git", "commit", "-q", "-m", "attributes", cwd=repo)
    return repo


def project_repo(root: Path, name: str) -> Path:
    """A stand-in for a real ML project: ~800 Python files in nested packages, a few
    notebooks and binary assets, a README, configs, and a ``.gitattributes`` of the usual
    kind (LFS patterns, linguist hints); one file modified, one untracked."""
    repo = root / name
    repo.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    body = "import torch\n\n\nclass Block(torch.nn.Module):\n    pass\n" * 12
    for i in range(800):
        folder = repo / "src" / f"pkg{i % 8}" / f"mod{(i // 8) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"layer{i}.py").write_text(f"# layer {i}\n{body}")
    (repo / "notebooks").mkdir()
    for i in range(12):
        cells = [{"cell_type": "code", "source": [f"x = {j}\n"], "outputs": []} for j in range(40)]
        (repo / "notebooks" / f"explore{i}.ipynb").write_text(json.dumps({"cells": cells}))
    (repo / "assets").mkdir()
    for i in range(6):
        (repo / "assets" / f"figure{i}.png").write_bytes(os.urandom(64 << 10))
    (repo / "configs").mkdir()
    for i in range(20):
        (repo / "configs" / f"exp{i}.yaml").write_text(f"lr: 0.{i + 1}\nbatch: 32\n")
    (repo / "README.md").write_text("# project\n" * 50)
    (repo / ".gitattributes").write_text(
        "*.ipynb linguist-generated\n*.pt filter=lfs diff=lfs merge=lfs -text\n*.png binary\n"
    )
    (repo / ".gitignore").write_text("data/\ncheckpoints/\n")
    for path in repo.rglob("*"):
        if ".git" not in path.parts:
            os.utime(path, (OLD_MTIME, OLD_MTIME))
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "init", cwd=repo)
    with open(repo / "src" / "pkg0" / "mod0" / "layer0.py", "a") as handle:
        handle.write("# edited\n")
    (repo / "notes.txt").write_text("new\n")
    return repo


def copy_repo(source: Path, dest: Path) -> Path:
    """A copy with the same index and mtimes (``cp -a``: the stat cache stays valid)."""
    sh("cp", "-a", str(source), str(dest), cwd=source.parent)
    return dest


def run_ids(repo: Path) -> list[str]:
    out = sh("git", "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitexp/runs", cwd=repo)
    return out.split()


def record_run(repo: Path, env: dict[str, str], *args: str) -> str:
    """Record one real run with ``gitexp run ARGS``; its id."""
    before = set(run_ids(repo))
    sh(*GITEXP, "run", *args, cwd=repo, env=env)
    (new,) = set(run_ids(repo)) - before
    return new


def synthetic_id(i: int) -> str:
    # "zz" first: never the prefix of a random id that a test might resolve.
    return "zz" + "".join(RUN_ID_ALPHABET[(i >> (5 * k)) & 31] for k in range(10))


def synthesize_runs(repo: Path, template_id: str, count: int, packed: bool = False) -> None:
    """Add ``count`` runs shaped like the real run ``template_id``, in one fast-import.

    Each is a finished run commit whose parent is the template's commit, with its own
    id, name, start time, config and metrics in the listing row, sharing the template's
    tree (so the repository stays small while each run is one more commit and ref, which
    is what listing and pushing pay for).  ``packed``: the refs go straight into
    ``packed-refs`` (as after ``git clone`` or ``git gc``) instead of one loose file each,
    which at 100,000 runs saves minutes of writing and later deleting files.
    """
    ref = f"refs/gitexp/runs/{template_id}"
    commit = sh("git", "rev-parse", ref, cwd=repo).strip()
    tree = sh("git", "rev-parse", f"{ref}^{{tree}}", cwd=repo).strip()
    message = sh("git", "log", "-1", "--format=%B", ref, cwd=repo).rstrip("\n")
    head, _, row_text = message.rpartition("gitexp-run: ")
    row = json.loads(row_text)
    start = float(row["start"])
    chunks: list[bytes] = []
    for i in range(count):
        run_id = synthetic_id(i)
        row.update(id=run_id, name=f"bench-{i}", start=start - 60 * (i + 1))
        row["end"] = row["start"] + 30
        row["config"] = {"lr": round(0.001 * (1 + i % 50), 6), "batch": 32 * (1 + i % 4)}
        row["metrics"] = {
            "loss": {"last": 1.0 / (i + 2), "min": 1.0 / (i + 2), "max": 1.0},
            "acc": {"last": 0.5 + (i % 40) / 100, "min": 0.1, "max": 0.5 + (i % 40) / 100},
        }
        body = f"{head}gitexp-run: {json.dumps(row, separators=(',', ':'))}\n".encode()
        target = "refs/gitexp/building" if packed else f"refs/gitexp/runs/{run_id}"
        chunks.append(
            f"commit {target}\nmark :{i + 1}\n"
            f"committer Bench <bench@example.invalid> {int(row['end'])} +0000\n"
            f"data {len(body)}\n".encode()
            + body
            + f'\nfrom {commit}\nM 040000 {tree} ""\n\n'.encode()
        )
    if not packed:
        sh("git", "fast-import", "--quiet", cwd=repo, stdin=b"".join(chunks))
        return
    marks = repo / ".git" / "bench-marks"
    sh("git", "fast-import", "--quiet", f"--export-marks={marks}", cwd=repo, stdin=b"".join(chunks))
    sh("git", "update-ref", "-d", "refs/gitexp/building", cwd=repo)
    sh("git", "pack-refs", "--all", cwd=repo)  # the few loose refs there are, then ours
    shas = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()
    lines = [f"{shas[f':{i + 1}']} refs/gitexp/runs/{synthetic_id(i)}\n" for i in range(count)]
    packed_refs = repo / ".git" / "packed-refs"
    head, *old = packed_refs.read_text().splitlines(keepends=True)
    packed_refs.write_text(head + "".join(sorted(old + lines, key=lambda line: line.split()[1])))


def runs_repo(
    root: Path, name: str, runs: int, env: dict[str, str], packed: bool = False
) -> tuple[Path, str, str]:
    """A repository with ``runs`` runs: two recorded by gitexp (different config and
    code, for ``gitexp diff``), the others synthesized.  Returns (repo, id1, id2)."""
    repo = source_repo(root, name, 50)
    script = "import gitexp; gitexp.init(); gitexp.log({'loss': 0.5}); gitexp.finish()"
    first = record_run(repo, env, "-p", "lr=0.1", "--", PY, "-c", script)
    with open(repo / "pkg1" / "sub0" / "f1.py", "a") as handle:
        handle.write("y = 2\n")
    second = record_run(repo, env, "-p", "lr=0.01", "--", PY, "-c", script)
    if runs > 2:
        synthesize_runs(repo, second, runs - 2, packed)
    return repo, first, second


def clone_with_runs(origin: Path, dest: Path) -> Path:
    """A clone that fetched every run, as ``git fetch origin 'refs/gitexp/runs/*:...'``."""
    sh("git", "clone", "-q", str(origin), str(dest), cwd=origin.parent)
    sh("git", "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*", cwd=dest)
    return dest


def bare_remote(root: Path, name: str, source: Path) -> Path:
    """A bare repository that already holds the source's branch (not its runs)."""
    remote = root / name
    sh("git", "init", "-q", "--bare", str(remote), cwd=root)
    sh("git", "push", "-q", str(remote), "HEAD:refs/heads/main", cwd=source)
    return remote


def big_file(path: Path, size: int) -> Path:
    """``size`` bytes that do not compress or deduplicate (a model checkpoint's shape)."""
    block = os.urandom(1 << 20)
    written = 0
    with open(path, "wb") as handle:
        while written < size:
            # A counter in each block keeps blocks distinct without generating 1 GiB of
            # random bytes (which alone takes seconds).
            piece = written.to_bytes(8, "little") + block[8:]
            piece = piece[: size - written]
            handle.write(piece)
            written += len(piece)
    stamp = time.time() - 10
    os.utime(path, (stamp, stamp))
    return path
