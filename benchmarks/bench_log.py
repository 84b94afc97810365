"""Benchmarks of logging: ``gitexp.log``'s sustained rate, and what survives a crash.

``log`` compares the rate with a raw JSON-lines append and checks the crash promise;
``log_wandb`` compares it with ``wandb.log`` offline and needs the peers' environment.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import peers
import workloads as wl
from measure import COMMAND_TIMEOUT, GITEXP, PY, Context, Row, alternate, compare, run_cmd

# Target 4, gitexp's side.  The rate counts the loop AND writing every row to the live
# history file (the background thread's work), so it is the sustained rate, not just the
# cost of queueing a row.
GITEXP_LOG_SCRIPT = """\
import sys
import time

import gitexp

n = int(sys.argv[1])
run = gitexp.init(name="log-speed")
log = gitexp.log
start = time.perf_counter()
for _ in range(n):
    log({"loss": 0.5, "acc": 0.9})
loop = time.perf_counter() - start
run._flush_live(final=True)
total = time.perf_counter() - start
gitexp.finish(quiet=True)
print(n / loop, n / total)
"""

# The floor of target 4: what a training loop pays to append its own JSON lines.
RAW_JSONL_SCRIPT = """\
import json
import sys
import time

n = int(sys.argv[1])
dumps = json.dumps
start = time.perf_counter()
with open(sys.argv[2], "a", encoding="utf-8") as handle:
    write = handle.write
    for _ in range(n):
        write(dumps({"loss": 0.5, "acc": 0.9}) + "\\n")
print(n / (time.perf_counter() - start))
"""

# The promise kept with target 4: rows logged more than the documented flush interval
# before a crash survive it.  The script logs, waits past the interval, and SIGKILLs
# itself; the next gitexp command finalizes the run as crashed.
CRASH_SCRIPT = """\
import os
import signal
import sys
import time

import gitexp

run = gitexp.init(name="crash-check")
for i in range(int(sys.argv[1])):
    gitexp.log({"loss": 1.0 / (i + 1), "acc": 0.5})
time.sleep(float(sys.argv[2]))
print(run.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
CRASH_WAIT_SECONDS = 1.2  # docs/api.md: metrics logged more than 1 s before a crash are kept


def _gitexp_log_rate(ctx: Context, repo: Path, script: Path, calls: int) -> float:
    out = run_cmd([PY, str(script), str(calls)], repo, ctx.env).stdout.split()
    return float(out[-1])  # sustained: the loop plus writing every row


def bench_log(ctx: Context) -> list[Row]:
    repo = ctx.source(ctx.size.small_files)
    scripts = ctx.root / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "gitexp_log.py").write_text(GITEXP_LOG_SCRIPT)
    (scripts / "raw_jsonl.py").write_text(RAW_JSONL_SCRIPT)
    calls = ctx.size.log_calls
    sink = ctx.root / "raw.jsonl"

    def raw() -> float:
        sink.unlink(missing_ok=True)
        cmd = [PY, str(scripts / "raw_jsonl.py"), str(calls), str(sink)]
        return float(run_cmd(cmd, ctx.root, ctx.env).stdout.split()[-1])

    ctx.say(f"log: gitexp.log of two scalars vs a raw JSON-lines append, {calls:,} calls")
    samples = alternate(
        {
            "gitexp": lambda: _gitexp_log_rate(ctx, repo, scripts / "gitexp_log.py", calls),
            "raw": raw,
        },
        ctx.repeat,
    )
    rate = compare(
        Row(
            "log_rate",
            "gitexp.log({loss, acc}) calls/s, sustained (loop + rows written to disk)",
            "/s",
            against="raw buffered JSON-lines append (json.dumps + write)",
            target="≥ 0.4x, and ≥ 150,000/s",
        ),
        samples["gitexp"],
        samples["raw"],
        0.4,
        at_most=False,
    )
    if rate.ours is not None and rate.ours < 150_000:
        rate.verdict = "missed"
        rate.note = f"{rate.ours:,.0f}/s is under the 150,000/s floor"
    return [rate, crash_survival(ctx, repo, scripts)]


def crash_survival(ctx: Context, repo: Path, scripts: Path) -> Row:
    """Rows logged more than the flush interval before a SIGKILL are in the run."""
    (scripts / "crash.py").write_text(CRASH_SCRIPT)
    logged = 1000
    row = Row(
        "log_crash",
        f"rows kept after SIGKILL, logged ≥ {CRASH_WAIT_SECONDS} s before it",
        "rows",
        against="rows logged",
        target="all kept",
    )
    done = subprocess.run(
        [PY, str(scripts / "crash.py"), str(logged), str(CRASH_WAIT_SECONDS)],
        cwd=repo,
        env=ctx.env,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )
    if done.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the crash script ended with {done.returncode}: {done.stderr!r}")
    run_id = done.stdout.decode().split()[-1]
    run_cmd([*GITEXP, "ls"], repo, ctx.env)  # any command finalizes the crashed run
    ref = f"refs/gitexp/runs/{run_id}"
    status = json.loads(wl.sh("git", "show", f"{ref}:.gitexp/run.json", cwd=repo))["status"]
    # The history is one file, or chunks under .gitexp/history/ (docs/format.md).
    listed = wl.sh("git", "ls-tree", "-r", "--name-only", ref, "--", ".gitexp/", cwd=repo)
    kept = 0
    for path in listed.split():
        if path == ".gitexp/history.jsonl" or re.fullmatch(r"\.gitexp/history/.+\.jsonl", path):
            history = wl.sh("git", "show", f"{ref}:{path}", cwd=repo)
            kept += sum(1 for line in history.splitlines() if line.strip())
    row.ours, row.theirs = float(kept), float(logged)
    row.ratio = kept / logged
    row.verdict = "met" if kept >= logged and status == "crashed" else "missed"
    row.note = f"run finalized as {status!r}"
    return row


def bench_log_wandb(ctx: Context) -> list[Row]:
    env = ctx.peers_env()
    repo = ctx.source(ctx.size.small_files)
    scripts = ctx.root / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "gitexp_log.py").write_text(GITEXP_LOG_SCRIPT)
    (scripts / "wandb_log.py").write_text(peers.WANDB_LOG_SCRIPT)
    work = ctx.root / "peer-work"
    work.mkdir(exist_ok=True)
    peer_py = str(peers.python())
    calls = ctx.size.wandb_log_calls

    def wandb_rate() -> float:
        cmd = [peer_py, str(scripts / "wandb_log.py"), str(calls)]
        return float(run_cmd(cmd, work, env).stdout.split()[-1])

    ctx.say(f"log_wandb: gitexp.log vs wandb.log offline ({calls:,} wandb calls)")
    samples = alternate(
        {
            "gitexp": lambda: _gitexp_log_rate(
                ctx, repo, scripts / "gitexp_log.py", ctx.size.log_calls
            ),
            "wandb": wandb_rate,
        },
        max(3, ctx.repeat // 2),
    )
    row = Row(
        "log_vs_wandb",
        "gitexp.log({loss, acc}) calls/s, sustained",
        "/s",
        against="wandb.log offline, calls/s on the training thread",
        target="≥ 20x",
    )
    return [compare(row, samples["gitexp"], samples["wandb"], 20.0, at_most=False)]
