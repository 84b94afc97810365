"""Benchmarks of gitexp against git's own floor and against peer trackers, in one run.

    python benchmarks/run.py [--size tiny|full] [--repeat N] [--only NAME,...] [--write-docs]
                             [--scale-runs 1000,10000,100000]

Every workload is built in a temporary folder.  gitexp runs with this interpreter
(``python -m gitexp``); the peers (wandb, MLflow, DVC) run from an environment of their
own, ``benchmarks/.venv-peers/``, installed on first use.  Each comparison is measured
alternately with gitexp in one process, after one untimed warm-up of each, and the
medians are compared.  The table goes to stdout; ``--write-docs`` also writes it, with
the machine, date and command, into docs/benchmarks.md.

Benchmarks (``--only``; * needs the peers' environment):

  import        import gitexp over python -c pass, and the heavy modules it loads
  run           gitexp run -- true vs git's plumbing, 800 and 20,000 files (targets 1, 2)
  dvc_exp_save* the same run vs ``dvc exp save`` (anchor)
  script*       a wandb-style script vs wandb offline and MLflow-SQLite (target 3)
  log           gitexp.log rate vs a raw JSON-lines append; crash survival (target 4)
  log_wandb*    gitexp.log rate vs wandb.log offline (target 4)
  ls            gitexp ls / diff over 10,000 runs: time and memory (target 5)
  push          gitexp push vs git push of the same 1,000 run refs (target 6)
  artifact*     offloading a 1 GiB file vs dvc add and md5sum (target 7)
  api           gitexp.Api().runs() to the first run over 10,000 runs, first and repeated
  scale         ls, ls --where (cold, warm), pull and push at each --scale-runs size
                against git for-each-ref, git fetch and git push (issue 21, part 4)

This file chooses the benchmarks and runs them in order.  They live by subject in
bench_record.py (import, run, dvc_exp_save, script), bench_log.py (log, log_wandb),
bench_share.py (ls, push, fetch, artifact), bench_api.py (api) and bench_scale.py
(scale); measure.py times and compares, report.py prints the table and writes
docs/benchmarks.md, workloads.py builds the repositories and peers.py the peers'
environment and scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import peers
from bench_api import bench_api
from bench_log import bench_log, bench_log_wandb
from bench_record import bench_dvc_exp_save, bench_import, bench_layouts, bench_run, bench_script
from bench_scale import bench_scale
from bench_share import bench_artifact, bench_fetch, bench_ls, bench_push
from measure import SIZES, Context, Row, base_env
from report import DOCS, header, table, write_docs

BENCHMARKS: dict[str, tuple[Callable[[Context], list[Row]], bool]] = {
    # name: (function, needs the peers' environment)
    "import": (bench_import, False),
    "run": (bench_run, False),
    "layouts": (bench_layouts, False),
    "dvc_exp_save": (bench_dvc_exp_save, True),
    "script": (bench_script, True),
    "log": (bench_log, False),
    "log_wandb": (bench_log_wandb, True),
    "ls": (bench_ls, False),
    "push": (bench_push, False),
    "fetch": (bench_fetch, False),
    "api": (bench_api, False),
    "artifact": (bench_artifact, True),
    "scale": (bench_scale, False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--repeat", type=int, help="measured rounds (default: 7 full, 2 tiny)")
    parser.add_argument("--only", help="comma-separated benchmarks: " + ",".join(BENCHMARKS))
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument(
        "--scale-runs", metavar="N,...", help="run counts for `scale` (default: 1000,10000)"
    )
    args = parser.parse_args(argv)
    chosen = list(BENCHMARKS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    size = SIZES[args.size]
    if args.scale_runs:
        try:
            counts = tuple(int(part.replace("_", "")) for part in args.scale_runs.split(","))
        except ValueError:
            parser.error(f"--scale-runs takes counts such as 1000,10000: {args.scale_runs!r}")
        size = replace(size, scale_runs=counts)
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    started = time.time()
    load_start = os.getloadavg()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gitexp-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        (home / ".gitconfig").write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n"
        )
        ctx = Context(root, size, args.repeat or size.repeat, base_env(home, root), say)
        for name in chosen:
            function, _ = BENCHMARKS[name]
            try:
                rows.extend(function(ctx))
            except Exception as exc:  # one broken benchmark must not hide the others
                say(f"{name} failed: {exc}")
                rows.append(Row(name, "(benchmark failed)", "s", verdict=f"error: {exc}"[:300]))
        peer_versions = peers.versions() if ctx.peers_ready else {}
    head = header(command, started, (load_start, os.getloadavg()), peer_versions, args.size)
    body = table(rows)
    print(f"{head}\n\n{body}")
    if args.write_docs:
        write_docs(head, body)
        say(f"wrote {DOCS}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
