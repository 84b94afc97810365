"""Measure the core issue's budgets on this machine and print medians.

    python benchmarks/core_budgets.py [--runs 10000] [--repeat 7]

Budgets (issue "Record every run..."): recording a run of `true` in an 800-file
repository adds at most 0.25 s over `true`; `gitexp.log` of two scalars sustains at
least 100,000 calls/s; `gitexp ls` over 10,000 runs answers within 1 s, also on the
first call after a clone; `import gitexp` imports nothing heavy.  Each comparison is
measured alternately with its baseline in one process, and the medians are printed with
the machine and date.  The workloads are built in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
GITEXP = [PY, "-m", "gitexp"]


def sh(*args: str, cwd: Path, **kw: object) -> str:
    done = subprocess.run(list(args), cwd=cwd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    return str(done.stdout)


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def make_repo(root: Path, files: int) -> Path:
    repo = root / f"repo{files}"
    repo.mkdir()
    sh("git", "init", "-q", cwd=repo)
    for i in range(files):
        path = repo / f"pkg{i % 40}" / f"sub{(i // 40) % 5}" / f"f{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# file {i}\nx = {i}\n" * 20)
    (repo / ".gitignore").write_text("data/\n")
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "-m", "init", cwd=repo)
    with open(repo / "pkg0" / "sub0" / "f0.py", "a") as handle:
        handle.write("# edited\n")
    (repo / "untracked.txt").write_text("new\n")
    return repo


def bench_run_true(root: Path, repeat: int) -> dict[str, float]:
    repo = make_repo(root, 800)
    timed([*GITEXP, "run", "--", "true"], repo)  # warm the page cache
    base, ours = [], []
    for _ in range(repeat):
        base.append(timed(["true"], repo))
        ours.append(timed([*GITEXP, "run", "--", "true"], repo))
    b, o = statistics.median(base), statistics.median(ours)
    return {"true_s": b, "gitexp_run_true_s": o, "overhead_s": o - b}


# The rate counts the loop AND writing every row to the live history file (the work the
# background thread does), so it is the sustained rate, not just the cost of queueing.
LOG_SCRIPT = """
import sys, time, gitexp
n = int(sys.argv[1])
run = gitexp.init(name="log-speed")
log = gitexp.log
t = time.perf_counter()
for i in range(n):
    log({"loss": 0.5, "acc": 0.9})
loop = time.perf_counter() - t
run._flush_live(final=True)
total = time.perf_counter() - t
gitexp.finish(quiet=True)
print(n / loop, n / total)
"""


def bench_log(root: Path, calls: int, repeat: int) -> dict[str, float]:
    repo = make_repo(root, 10)
    (repo / "logspeed.py").write_text(LOG_SCRIPT)
    outputs = [sh(PY, "logspeed.py", str(calls), cwd=repo).split() for _ in range(repeat)]
    return {
        "log_calls_per_s_loop": statistics.median(float(o[-2]) for o in outputs),
        "log_calls_per_s_sustained": statistics.median(float(o[-1]) for o in outputs),
    }


def bench_ls(root: Path, runs: int, repeat: int) -> dict[str, float]:
    (root / "ls").mkdir()
    origin = make_repo(root / "ls", 50)
    sh(*GITEXP, "run", "-p", "lr=0.1", "--", PY, "-c", "print('x')", cwd=origin)
    ref = sh("git", "for-each-ref", "--format=%(refname)", "refs/gitexp/runs", cwd=origin).split()[
        0
    ]
    commit = sh("git", "rev-parse", ref, cwd=origin).strip()
    tree = sh("git", "rev-parse", f"{ref}^{{tree}}", cwd=origin).strip()
    message = sh("git", "log", "-1", "--format=%B", ref, cwd=origin)
    head, _, row_text = message.rpartition("gitexp-run: ")
    row = json.loads(row_text)
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    stream = []
    for i in range(runs - 1):
        run_id = "".join(alphabet[(i >> (5 * k)) & 31] for k in range(12))
        row.update(id=run_id, name=f"bench-{i}", start=row["start"] + i, end=row["start"] + i + 1)
        row["config"] = {"lr": 0.001 * (i % 50), "batch": 32 * (1 + i % 4)}
        row["metrics"] = {"loss": {"last": 1.0 / (i + 1), "min": 0.0, "max": 1.0}}
        body = f"{head}gitexp-run: {json.dumps(row, separators=(',', ':'))}\n".encode()
        stream.append(f"commit refs/gitexp/runs/{run_id}\n")
        stream.append("committer Bench <b@example.invalid> 1700000000 +0000\n")
        stream.append(f"data {len(body)}\n")
        stream.append(body.decode() + "\n")
        stream.append(f'from {commit}\nM 040000 {tree} ""\n\n')
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=origin, input="".join(stream).encode(), check=True
    )
    clone = root / "ls-clone"
    sh("git", "clone", "-q", str(origin), str(clone), cwd=root)
    sh("git", "fetch", "-q", "origin", "refs/gitexp/runs/*:refs/gitexp/runs/*", cwd=clone)
    cache = clone / ".git" / "gitexp" / "cache" / "rows.json"
    cold, warm = [], []
    for _ in range(repeat):
        if cache.exists():
            cache.unlink()
        cold.append(timed([*GITEXP, "ls"], clone))
        warm.append(timed([*GITEXP, "ls"], clone))
    count = len(sh("git", "for-each-ref", "refs/gitexp/runs", cwd=clone).splitlines())
    return {
        "runs": count,
        "ls_first_s": statistics.median(cold),
        "ls_cached_s": statistics.median(warm),
    }


def bench_import(repeat: int) -> dict[str, object]:
    plain, ours = [], []
    for _ in range(repeat):
        plain.append(timed([PY, "-c", "pass"], Path.cwd()))
        ours.append(timed([PY, "-c", "import gitexp"], Path.cwd()))
    code = (
        "import sys, gitexp; "
        "print(sorted(m for m in ('dulwich','dvc','yaml','numpy','torch') if m in sys.modules))"
    )
    heavy = sh(PY, "-c", code, cwd=Path.cwd()).strip()
    return {
        "import_gitexp_s": statistics.median(ours) - statistics.median(plain),
        "heavy_modules_loaded": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--log-calls", type=int, default=200_000)
    args = parser.parse_args()
    env_home = tempfile.mkdtemp()
    os.environ.update(HOME=env_home, GIT_CONFIG_NOSYSTEM="1")
    Path(env_home, ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = b@example.invalid\n")
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; date: {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {}
        results.update(bench_import(args.repeat))
        results.update(bench_run_true(root, args.repeat))
        results.update(bench_log(root, args.log_calls, max(3, args.repeat // 2)))
        results.update(bench_ls(root, args.runs, max(3, args.repeat // 2)))
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:>24}: {shown}")


if __name__ == "__main__":
    main()
