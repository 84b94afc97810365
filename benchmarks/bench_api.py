"""Benchmark of the read API: ``gitexp.Api().runs()`` to the first run, on many runs.

Timed inside one Python process (what a notebook pays), after ``import gitexp``: the
first call opens the repository and reads the listing (its row cache warm, as after any
``gitexp ls``); a repeated call uses what the ``Api`` read (``api.flush()`` forgets it,
as wandb's does).  The yardstick is git
listing the run refs.
"""

from __future__ import annotations

import json

import workloads as wl
from measure import PY, Context, Row, absolute, alternate, compare, run_cmd, timed

# Prints the two times in seconds as JSON: the first call, then a repeated one.
PROBE = """\
import json, time
import gitexp
t0 = time.perf_counter()
api = gitexp.Api()
first = api.runs()[0]
t1 = time.perf_counter()
again = api.runs()[0]
t2 = time.perf_counter()
assert first.id == again.id
print(json.dumps([t1 - t0, t2 - t1]))
"""


def bench_api(ctx: Context) -> list[Row]:
    runs = ctx.size.runs
    ctx.say(f"api: building a repository of {runs:,} runs")
    base = ctx.root / "api"
    base.mkdir()
    repo, _first, _second = wl.runs_repo(base, "origin", runs, ctx.env)
    run_cmd([*wl.GITEXP, "ls"], repo, ctx.env)  # the row cache, as any earlier ls leaves it
    first: list[float] = []
    repeated: list[float] = []

    def probe() -> float:
        out = wl.sh(PY, "-c", PROBE, cwd=repo, env=ctx.env)
        once, twice = json.loads(out)
        first.append(once)
        repeated.append(twice)
        return float(once)

    ctx.say("api: Api().runs()[0], first and repeated, vs git for-each-ref")
    samples = alternate(
        {
            "api": probe,
            "git_refs": lambda: timed(["git", "for-each-ref", "refs/gitexp/runs"], repo, ctx.env),
        },
        ctx.repeat,
    )
    del first[0], repeated[0]  # the warm-up call's figures
    first_row = compare(
        Row(
            "api_first",
            f"gitexp.Api().runs()[0] in a notebook, {runs:,} runs, first call",
            "s",
            against="git for-each-ref (refs only, a process)",
            target="≤ 0.15 s",
        ),
        first,
        samples["git_refs"],
        None,
        at_most=True,
    )
    repeated_row = compare(
        Row(
            "api_repeated",
            f"gitexp.Api().runs()[0], {runs:,} runs, repeated in the same process",
            "s",
            against="git for-each-ref (refs only, a process)",
            target="≤ 0.05 s",
        ),
        repeated,
        samples["git_refs"],
        None,
        at_most=True,
    )
    absolute(first_row, 0.15)
    absolute(repeated_row, 0.05)
    return [first_row, repeated_row]
