"""Scale: listing, pulling and pushing 1,000 to 100,000 runs against git's floor.

For each size in ``--scale-runs`` one repository is built (runs synthesized by one
``git fast-import``, refs packed as after a clone), and every gitexp figure is measured
alternately with the git command doing the same work (issue 21, part 4):

- ``ls -n 20`` and ``ls -n 20 --where ...``, cold (no listing cache, as right after a
  clone) and warm, against ``git for-each-ref`` reading every run commit;
- ``gitexp pull`` of every run into a fresh clone against ``git fetch`` of the same refs,
  and against git doing a pull's own git work: that fetch, then one ``git update-ref
  --stdin`` creating the run refs (with their reflogs) beside the mirrors;
- ``gitexp push`` of every run to a fresh bare remote against ``git push`` of the same refs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import workloads as wl
from measure import GITEXP, Context, Row, alternate, compare, run_cmd, timed

REF = "refs/gitexp/runs/"
FLOOR = ["git", "for-each-ref", "--format=%(objectname) %(contents)", REF]
WHERE = "config.lr < 0.01 and status == 'finished'"


def bench_scale(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for count in ctx.size.scale_runs:
        rows.extend(_one_size(ctx, count))
    return rows


def _one_size(ctx: Context, count: int) -> list[Row]:
    # The largest size is measured once (after one warm-up for listing): a round of
    # pull and push at 100,000 runs takes minutes on a shared machine.
    repeat = ctx.repeat if count < 50_000 else 1
    ctx.say(f"scale: building a repository of {count:,} runs")
    base = ctx.root / f"scale-{count}"
    base.mkdir()
    repo, _, _ = wl.runs_repo(base, "origin", count, ctx.env, packed=True)
    cache = repo / ".git" / "gitexp" / "cache"

    def floor() -> float:
        return timed(FLOOR, repo, ctx.env)

    def ls(*extra: str, cold: bool) -> Callable[[], float]:
        def step() -> float:
            if cold:
                _empty(cache)
            return timed([*GITEXP, "ls", "-n", "20", *extra], repo, ctx.env)

        return step

    ctx.say(f"scale: ls at {count:,} runs, cold and warm, against git for-each-ref")
    samples = alternate(
        {
            "git": floor,
            "ls_cold": ls(cold=True),
            "ls_warm": ls(cold=False),
            "where_cold": ls("--where", WHERE, cold=True),
            "where_warm": ls("--where", WHERE, cold=False),
        },
        repeat,
    )
    label = f"{count:,}"
    rows = [
        _row(
            f"scale_ls_cold_{count}",
            f"ls -n 20, {label} runs, no listing cache",
            samples,
            "ls_cold",
        ),
        _row(f"scale_ls_warm_{count}", f"ls -n 20, {label} runs, cached", samples, "ls_warm"),
        _row(
            f"scale_where_cold_{count}",
            f"ls -n 20 --where, {label} runs, no cache",
            samples,
            "where_cold",
        ),
        _row(
            f"scale_where_warm_{count}",
            f"ls -n 20 --where, {label} runs, cached",
            samples,
            "where_warm",
        ),
    ]
    rows.extend(_transfer_rows(ctx, repo, base, count, repeat))
    return rows


def _row(name: str, what: str, samples: dict[str, list[float]], key: str) -> Row:
    row = Row(name, what, "s", against="git for-each-ref reading the run commits", target="≤ 2x")
    return compare(row, samples[key], samples["git"], 2.0, at_most=True)


def _empty(cache: Path) -> None:
    if cache.is_dir():
        for path in cache.iterdir():
            path.unlink()


def _transfer_rows(ctx: Context, repo: Path, base: Path, count: int, repeat: int) -> list[Row]:
    serial: Iterator[int] = iter(range(1_000_000))

    def clone() -> Path:
        dest = base / f"clone-{next(serial)}"
        run_cmd(["git", "clone", "-q", "--no-checkout", str(repo), str(dest)], base, ctx.env)
        return dest

    def remote() -> Path:
        dest = base / f"remote-{next(serial)}.git"
        run_cmd(["git", "init", "-q", "--bare", str(dest)], base, ctx.env)
        return dest

    def gitexp_pull() -> float:
        return timed([*GITEXP, "pull", "--no-artifacts", "origin"], clone(), ctx.env)

    def git_fetch() -> float:
        refspec = f"+{REF}*:refs/remotes/origin/gitexp/runs/*"
        return timed(["git", "fetch", "-q", "origin", refspec], clone(), ctx.env)

    def git_fetch_and_refs() -> float:
        # What a pull must have git do: the mirrors, then the run refs made from them.
        dest = clone()
        mirror = "refs/remotes/origin/gitexp/runs/"
        start = time.perf_counter()
        run_cmd(["git", "fetch", "-q", "origin", f"+{REF}*:{mirror}*"], dest, ctx.env)
        listed = run_cmd(
            ["git", "for-each-ref", f"--format=create {REF}%(refname:lstrip=5) %(objectname)",
             mirror], dest, ctx.env,
        )  # fmt: skip
        args = ["git", "update-ref", "--create-reflog", "-m", "fetched", "--stdin"]
        run_cmd(args, dest, ctx.env, stdin=listed.stdout)
        return time.perf_counter() - start

    def gitexp_push() -> float:
        return timed([*GITEXP, "push", str(remote())], repo, ctx.env)

    def git_push() -> float:
        return timed(["git", "push", "-q", str(remote()), f"{REF}*:{REF}*"], repo, ctx.env)

    ctx.say(f"scale: pull and push of {count:,} runs against git fetch and git push")
    warmup = 1 if count < 50_000 else 0
    samples = alternate(
        {
            "fetch": git_fetch,
            "fetch_refs": git_fetch_and_refs,
            "pull": gitexp_pull,
            "push_git": git_push,
            "push": gitexp_push,
        },
        repeat,
        warmup,
    )
    label = f"{count:,}"
    pull = Row(
        f"scale_pull_{count}",
        f"pull --no-artifacts of {label} runs into a fresh clone",
        "s",
        against="git fetch of the same refs",
        target="≤ 2x",
    )
    push = Row(
        f"scale_push_{count}",
        f"push of {label} runs to an empty bare remote",
        "s",
        against="git push of the same refs",
        target="≤ 2x",
    )
    own = Row(
        f"scale_pull_git_{count}",
        f"pull --no-artifacts of {label} runs, against its own git work",
        "s",
        against="git fetch + git update-ref creating the run refs",
        target="info",
    )
    return [
        compare(pull, samples["pull"], samples["fetch"], 2.0, at_most=True),
        compare(own, samples["pull"], samples["fetch_refs"], None, at_most=True),
        compare(push, samples["push"], samples["push_git"], 2.0, at_most=True),
    ]
