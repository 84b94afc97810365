"""Benchmarks of a repository full of runs: listing, diffing, pushing, large artifacts.

``ls`` and ``push`` compare gitexp with git over thousands of synthesized runs;
``artifact`` compares offloading a large file with ``dvc add`` and ``md5sum``, and
needs the peers' environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import peers
import workloads as wl
from measure import (
    GITEXP,
    Context,
    Row,
    absolute,
    alternate,
    compare,
    gitexp_has,
    median,
    run_cmd,
    timed,
    timed_rss,
)

REF = "refs/gitexp/runs/"


def bench_ls(ctx: Context) -> list[Row]:
    runs = ctx.size.runs
    ctx.say(f"ls: building a repository of {runs:,} runs and a clone of it")
    base = ctx.root / "ls"
    base.mkdir()
    origin, first, second = wl.runs_repo(base, "origin", runs, ctx.env)
    clone = wl.clone_with_runs(origin, base / "clone")
    cache = clone / ".git" / "gitexp" / "cache"  # the listing cache, whatever its file
    memory: list[float] = []
    floor_memory: list[float] = []

    def ls_first() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        elapsed, rss = timed_rss([*GITEXP, "ls"], clone, ctx.env)
        memory.append(rss)
        if not any(cache.iterdir()):  # else "first" would not differ from "cached"
            raise RuntimeError(f"gitexp ls wrote no listing cache in {cache}")
        return elapsed

    def git_read_all() -> float:
        cmd = ["git", "for-each-ref", "--format=%(objectname) %(contents)", "refs/gitexp/runs"]
        elapsed, rss = timed_rss(cmd, clone, ctx.env)
        floor_memory.append(rss)
        return elapsed

    ctx.say("ls: gitexp ls (first, cached), gitexp diff vs git for-each-ref / git diff")
    samples = alternate(
        {
            "ls_first": ls_first,
            "git_read_all": git_read_all,
            "ls_cached": lambda: timed([*GITEXP, "ls"], clone, ctx.env),
            "git_refs": lambda: timed(["git", "for-each-ref", "refs/gitexp/runs"], clone, ctx.env),
            "diff": lambda: timed([*GITEXP, "diff", first, second], clone, ctx.env),
            "git_diff": lambda: timed(
                ["git", "diff", "--stat", f"{REF}{first}", f"{REF}{second}"], clone, ctx.env
            ),
        },
        ctx.repeat,
    )
    first_row = compare(
        Row(
            "ls_first",
            f"gitexp ls, {runs:,} runs, first call after a clone (no row cache)",
            "s",
            against="git for-each-ref reading every run commit",
            target="≤ 1 s",
        ),
        samples["ls_first"],
        samples["git_read_all"],
        None,
        at_most=True,
    )
    cached_row = compare(
        Row(
            "ls_cached",
            f"gitexp ls, {runs:,} runs, later calls",
            "s",
            against="git for-each-ref (refs only)",
            target="≤ 0.3 s",
        ),
        samples["ls_cached"],
        samples["git_refs"],
        None,
        at_most=True,
    )
    diff_row = compare(
        Row(
            "diff",
            f"gitexp diff of two runs among {runs:,}",
            "s",
            against="git diff --stat of the two run commits",
            target="≤ 0.3 s",
        ),
        samples["diff"],
        samples["git_diff"],
        None,
        at_most=True,
    )
    memory_row = compare(
        Row(
            "ls_memory",
            f"gitexp ls peak memory (max RSS), {runs:,} runs, first call",
            "MB",
            against="git for-each-ref reading every run commit",
            target="≤ 150 MB",
        ),
        memory[1:],  # the warm-up's sample is not one of the measured calls
        floor_memory[1:],
        None,
        at_most=True,
    )
    absolute(first_row, 1.0)
    absolute(cached_row, 0.3)
    absolute(diff_row, 0.3)
    absolute(memory_row, 150.0)
    return [first_row, cached_row, diff_row, memory_row]


def bench_push(ctx: Context) -> list[Row]:
    count = ctx.size.push_runs
    ctx.say(f"push: building a repository of {count:,} runs")
    base = ctx.root / "push"
    base.mkdir()
    repo, _, _ = wl.runs_repo(base, "source", count, ctx.env)
    remotes: Iterator[int] = iter(range(1_000_000))

    def fresh_remote() -> Path:
        return wl.bare_remote(base, f"remote-{next(remotes)}", repo)

    def gitexp_push() -> float:
        remote = fresh_remote()
        return timed([*GITEXP, "push", str(remote)], repo, ctx.env)

    def git_push() -> float:
        remote = fresh_remote()
        refspec = "refs/gitexp/runs/*:refs/gitexp/runs/*"
        return timed(["git", "push", "-q", str(remote), refspec], repo, ctx.env)

    row = Row(
        "push_1000",
        f"push {count:,} runs to a bare remote (which has the branch, not the runs)",
        "s",
        against="git push of the same refs",
        target="≤ 2x",
    )
    steps: dict[str, Callable[[], float]] = {"git": git_push}
    available = gitexp_has(["push"], "remote", ctx)
    if available:
        steps["gitexp"] = gitexp_push
    ctx.say("push: gitexp push vs git push" if available else "push: git push only")
    samples = alternate(steps, ctx.repeat)
    if not available:
        row.theirs = median(samples["git"])
        row.verdict = "not available yet"
        row.note = "`gitexp push` is not in this gitexp; the baseline is measured"
        return [row]
    return [compare(row, samples["gitexp"], samples["git"], 2.0, at_most=True)]


def bench_artifact(ctx: Context) -> list[Row]:
    env = ctx.peers_env()
    size = ctx.size.artifact_bytes
    dvc = peers.tool("dvc")
    small = ctx.source(10)
    repos = {}
    for side in ("gitexp", "dvc"):
        repo = wl.copy_repo(small, ctx.root / f"artifact-{side}")
        run_cmd([dvc, "init", "-q"], repo, env)
        run_cmd(["git", "add", ".dvc", ".dvcignore"], repo, env)
        run_cmd(["git", "commit", "-q", "-m", "dvc init"], repo, env)
        repos[side] = repo
    ctx.say(f"artifact: writing a {size / (1 << 30):.2f} GiB file twice")
    wl.big_file(repos["gitexp"] / "big.bin", size)
    shutil.copyfile(repos["gitexp"] / "big.bin", repos["dvc"] / "big.bin")
    pristine_gitignore = (repos["dvc"] / ".gitignore").read_bytes()

    def empty_cache(repo: Path) -> None:
        # Both tools skip work for content their cache or state database already holds.
        for folder in ("cache", "tmp"):
            shutil.rmtree(repo / ".dvc" / folder, ignore_errors=True)

    def gitexp_out() -> float:
        empty_cache(repos["gitexp"])
        cmd = [*GITEXP, "run", "--out", "big.bin", "--", "true"]
        elapsed = timed(cmd, repos["gitexp"], env)
        if not any((repos["gitexp"] / ".dvc" / "cache").rglob("*")):
            raise RuntimeError("gitexp run --out left nothing in the DVC cache")
        return elapsed

    def dvc_add() -> float:
        repo = repos["dvc"]
        empty_cache(repo)
        (repo / "big.bin.dvc").unlink(missing_ok=True)
        (repo / ".gitignore").write_bytes(pristine_gitignore)  # dvc add appends to it
        return timed([dvc, "add", "-q", "big.bin"], repo, env)

    steps: dict[str, Callable[[], float]] = {
        "dvc": dvc_add,
        "md5sum": lambda: timed(["md5sum", "big.bin"], repos["gitexp"], env),
    }
    available = gitexp_has(["run"], "--out", ctx)
    if available:
        steps["gitexp"] = gitexp_out
    ctx.say("artifact: gitexp run --out vs dvc add vs md5sum")
    samples = alternate(steps, max(3, ctx.repeat // 2))
    what = f"offload a {size / (1 << 30):.2f} GiB untracked file (hash + copy into the cache)"
    vs_dvc = Row(
        "artifact_vs_dvc",
        what + ": `gitexp run --out FILE -- true`",
        "s",
        against="dvc add",
        target="≤ 1.2x",
    )
    vs_md5 = Row("artifact_vs_md5sum", what, "s", against="md5sum (the floor)", target="floor")
    if not available:
        for row, key in ((vs_dvc, "dvc"), (vs_md5, "md5sum")):
            row.theirs = median(samples[key])
            row.verdict = "not available yet"
            row.note = "`gitexp run --out` is not in this gitexp; the baseline is measured"
        return [vs_dvc, vs_md5]
    return [
        compare(vs_dvc, samples["gitexp"], samples["dvc"], 1.2, at_most=True),
        compare(vs_md5, samples["gitexp"], samples["md5sum"], None, at_most=True),
    ]


def bench_fetch(ctx: Context) -> list[Row]:
    """``git fetch`` of many runs in a clone set up by ``gitexp install`` against the same
    fetch in a clone with the same refspec and no gitexp, then the first gitexp command
    after it (which brings the mirrored runs in) against one with nothing to bring."""
    count = ctx.size.push_runs
    ctx.say(f"fetch: building a remote of {count:,} runs")
    base = ctx.root / "fetch"
    base.mkdir()
    repo, _, _ = wl.runs_repo(base, "source", count, ctx.env)
    remote = wl.bare_remote(base, "remote.git", repo)
    run_cmd(["git", "push", "-q", str(remote), f"{REF}*:{REF}*"], repo, ctx.env)
    clones: Iterator[int] = iter(range(1_000_000))
    refspec = f"+{REF}*:refs/remotes/origin/gitexp/runs/*"

    def fresh_clone(install: bool) -> Path:
        dest = base / f"clone-{next(clones)}"
        run_cmd(["git", "clone", "-q", str(remote), str(dest)], base, ctx.env)
        if install:
            run_cmd([*GITEXP, "install"], dest, ctx.env)
        else:
            run_cmd(["git", "config", "--add", "remote.origin.fetch", refspec], dest, ctx.env)
        return dest

    after: list[float] = []
    idle: list[float] = []

    def with_gitexp() -> float:
        dest = fresh_clone(install=True)
        elapsed = timed(["git", "fetch", "-q"], dest, ctx.env)
        after.append(timed([*GITEXP, "ls", "-n", "1"], dest, ctx.env))
        idle.append(timed([*GITEXP, "ls", "-n", "1"], dest, ctx.env))
        return elapsed

    def plain() -> float:
        return timed(["git", "fetch", "-q"], fresh_clone(install=False), ctx.env)

    ctx.say("fetch: git fetch after gitexp install vs plain git fetch")
    samples = alternate({"gitexp": with_gitexp, "git": plain}, ctx.repeat)
    row = Row(
        "fetch_hooks",
        f"`git fetch` of {count:,} runs after `gitexp install`",
        "s",
        against="the same fetch without gitexp",
        target="≤ 1.5x or git + 0.3 s",
    )
    compare(row, samples["gitexp"], samples["git"], None, at_most=True)
    assert row.ours is not None and row.theirs is not None
    row.verdict = "met" if row.ours <= max(1.5 * row.theirs, row.theirs + 0.3) else "missed"
    first = Row(
        "fetch_first_command",
        f"the first `gitexp ls -n 1` after it (brings {count:,} runs in)",
        "s",
        against="`gitexp ls -n 1` with nothing fetched",
    )
    compare(first, after, idle, None, at_most=True)
    return [row, first]
