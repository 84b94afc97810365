"""Benchmarks of recording: importing gitexp, a run of ``true``, a tracked script.

``import`` and ``run`` compare gitexp with Python's start-up and git's own plumbing;
``dvc_exp_save`` and ``script`` compare it with DVC, wandb and MLflow, and need the
peers' environment.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import peers
import workloads as wl
from measure import GITEXP, PY, Context, Row, alternate, compare, median, run_cmd, timed

# git doing what `gitexp run` does to record the work tree: `git add -A` into a copy of
# the index (the user's index is left alone, as gitexp leaves it), then the tree, the
# commit and the ref.  The copy keeps the stat cache, as gitexp uses the index's.
GIT_SNAPSHOT = """\
set -e
index=$(mktemp)
cp .git/index "$index"
export GIT_INDEX_FILE="$index"
git add -A
tree=$(git write-tree)
commit=$(echo bench | git commit-tree "$tree" -p HEAD)
git update-ref refs/bench/git-snapshot "$commit"
rm -f "$index"
"""


def bench_run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    ratios: dict[str, float] = {}
    for label, files in (("800", ctx.size.small_files), ("20k", ctx.size.large_files)):
        repo = ctx.source(files)
        ctx.say(f"run: gitexp run -- true vs git plumbing, {files:,} files")
        samples = alternate(
            {
                "gitexp": partial(timed, [*GITEXP, "run", "--", "true"], repo, ctx.env),
                "git": partial(timed, ["sh", "-c", GIT_SNAPSHOT], repo, ctx.env),
            },
            ctx.repeat,
        )
        row = Row(
            f"run_{label}",
            f"record a run of `true`, {files:,} files (1 modified, 1 untracked)",
            "s",
            against="git plumbing (temp index, add -A, write-tree, commit-tree, update-ref)",
            target="≤ 5x",
        )
        rows.append(compare(row, samples["gitexp"], samples["git"], 5.0, at_most=True))
        if row.ratio is not None:
            ratios[label] = row.ratio
    growth = Row(
        "run_growth",
        f"ratio to git at {ctx.size.large_files:,} files ÷ at {ctx.size.small_files:,}",
        "x",
        against="the ratio at the smaller size",
        target="≤ 1.1 (does not grow; 10% for noise)",
    )
    if len(ratios) == 2:
        growth.ours = ratios["20k"]
        growth.theirs = ratios["800"]
        growth.ratio = ratios["20k"] / ratios["800"]
        growth.verdict = "met" if growth.ratio <= 1.1 else "missed"
    rows.append(growth)
    return rows


HEAVY_MODULES = ("dulwich", "dvc", "yaml", "numpy", "torch", "psutil", "tabulate")


def bench_import(ctx: Context) -> list[Row]:
    """``import gitexp`` (a script's first line) over ``python -c pass``, and what it loads."""
    ctx.say("import: python -c 'import gitexp' vs python -c pass")
    samples = alternate(
        {
            "gitexp": partial(timed, [PY, "-c", "import gitexp"], ctx.root, ctx.env),
            "python": partial(timed, [PY, "-c", "pass"], ctx.root, ctx.env),
        },
        ctx.repeat,
    )
    row = Row(
        "import",
        "import gitexp (a script's first line), over python -c pass",
        "s",
        against="python -c pass",
        target="cheap: none of " + ", ".join(HEAVY_MODULES),
    )
    row.ours = median(samples["gitexp"]) - median(samples["python"])
    row.theirs = median(samples["python"])
    names = " ".join(HEAVY_MODULES)
    probe = f"import sys, gitexp; print(*[m for m in {names!r}.split() if m in sys.modules])"
    loaded = run_cmd([PY, "-c", probe], ctx.root, ctx.env).stdout.decode().strip()
    row.verdict = "met" if not loaded else "missed"
    row.note = f"loads {loaded}" if loaded else "loads none of them"
    return [row]


def bench_dvc_exp_save(ctx: Context) -> list[Row]:
    env = ctx.peers_env()
    repo = wl.copy_repo(ctx.source(ctx.size.small_files), ctx.root / "dvc-exp")
    dvc = peers.tool("dvc")
    run_cmd([dvc, "init", "-q"], repo, env)
    run_cmd(["git", "add", ".dvc", ".dvcignore"], repo, env)
    run_cmd(["git", "commit", "-q", "-m", "dvc init"], repo, env)
    ctx.say("dvc_exp_save: gitexp run -- true vs dvc exp save")
    samples = alternate(
        {
            "gitexp": lambda: timed([*GITEXP, "run", "--", "true"], repo, env),
            "dvc": lambda: timed([dvc, "exp", "save", "-q", "-I", "untracked.txt"], repo, env),
        },
        ctx.repeat,
    )
    row = Row(
        "dvc_exp_save",
        f"record the work tree, {ctx.size.small_files:,} files",
        "s",
        against="dvc exp save -I untracked.txt",
        target="anchor (~1.6 s)",
    )
    return [compare(row, samples["gitexp"], samples["dvc"], None, at_most=True)]


def bench_script(ctx: Context) -> list[Row]:
    env = ctx.peers_env()
    repo = ctx.source(ctx.size.small_files)
    scripts = ctx.root / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "gitexp_style.py").write_text(peers.GITEXP_SCRIPT)
    (scripts / "wandb_style.py").write_text(peers.WANDB_SCRIPT)
    (scripts / "mlflow_style.py").write_text(peers.MLFLOW_SCRIPT)
    work = ctx.root / "peer-work"
    work.mkdir(exist_ok=True)
    tracking = f"sqlite:///{ctx.root / 'mlflow.db'}"
    peer_py = str(peers.python())
    ctx.say("script: a wandb-style script under gitexp, wandb offline and MLflow-SQLite")
    samples = alternate(
        {
            "gitexp": lambda: timed([PY, str(scripts / "gitexp_style.py")], repo, env),
            "wandb": lambda: timed([peer_py, str(scripts / "wandb_style.py")], work, env),
            "mlflow": lambda: timed(
                [peer_py, str(scripts / "mlflow_style.py"), tracking], work, env
            ),
        },
        ctx.repeat,
    )
    what = "wandb-style script end to end: init + config, 8 logs, finish (snapshot, manifest)"
    return [
        compare(
            Row("script_wandb", what, "s", against="wandb offline", target="≤ 0.2x (5x faster)"),
            samples["gitexp"],
            samples["wandb"],
            0.2,
            at_most=True,
        ),
        compare(
            Row("script_mlflow", what, "s", against="MLflow, SQLite store", target="≤ 0.1x"),
            samples["gitexp"],
            samples["mlflow"],
            0.1,
            at_most=True,
        ),
    ]


def bench_layouts(ctx: Context) -> list[Row]:
    """Issue 22's rows: `gitexp run -- true` against git's plumbing snapshot where a
    `.gitattributes` exists (linguist hints only; `* text=auto`) and in a stand-in for
    a real project, plus the seed-style script recording itself against bare Python."""
    small = ctx.source(ctx.size.small_files)
    cases = {
        "run_800_linguist": (
            wl.with_attributes(small, ctx.root / "linguist", "*.ipynb linguist-generated\n"),
            f"{ctx.size.small_files:,} files, `.gitattributes`: `*.ipynb linguist-generated`",
        ),
        "run_800_textauto": (
            wl.with_attributes(small, ctx.root / "textauto", "* text=auto\n"),
            f"{ctx.size.small_files:,} files, `.gitattributes`: `* text=auto`",
        ),
        "run_project": (
            wl.project_repo(ctx.root, "project"),
            "a project stand-in: 800 .py in nested packages, notebooks, PNGs, configs, LFS "
            "and linguist attributes",
        ),
    }
    rows: list[Row] = []
    for name, (repo, what) in cases.items():
        ctx.say(f"layouts: {name}")
        samples = alternate(
            {
                "gitexp": partial(timed, [*GITEXP, "run", "--", "true"], repo, ctx.env),
                "git": partial(timed, ["sh", "-c", GIT_SNAPSHOT], repo, ctx.env),
            },
            ctx.repeat,
        )
        row = Row(
            name,
            f"record a run of `true`, {what}",
            "s",
            against="git plumbing (temp index, add -A, write-tree, commit-tree, update-ref)",
            target="≤ 2x",
        )
        rows.append(compare(row, samples["gitexp"], samples["git"], 2.0, at_most=True))
    rows.append(_python_floor(ctx, cases["run_800_linguist"][0]))
    script = ctx.root / "seed_style.py"
    script.write_text(peers.GITEXP_SCRIPT)
    ctx.say("layouts: the seed-style script recording itself vs bare Python")
    samples = alternate(
        {
            "gitexp": partial(timed, [PY, str(script)], small, ctx.env),
            "python": partial(timed, [PY, "-c", "pass"], small, ctx.env),
        },
        ctx.repeat,
    )
    row = Row(
        "script_self",
        "a wandb-style script recording itself (init + config, 8 logs, finish)",
        "s",
        against="bare Python start-up (`python -c pass`)",
        target="≤ Python + 0.05 s",
    )
    compare(row, samples["gitexp"], samples["python"], None, at_most=True)
    assert row.ours is not None and row.theirs is not None
    row.verdict = "met" if row.ours <= row.theirs + 0.05 else "missed"
    rows.append(row)
    return rows


# What any Python command that records a run must pay before its first line of work:
# the interpreter (with the environment's site-packages) and the standard library a
# recorder cannot do without (json for its files, subprocess for the command and git,
# threading for the output, argparse for its command line).  Measured beside git's
# snapshot of the same repository, it shows how much of the 2x budget is gone already.
PYTHON_FLOOR = "import argparse, json, subprocess, threading"


def _python_floor(ctx: Context, repo: Path) -> Row:
    ctx.say("layouts: the Python floor (interpreter + standard library) vs git's snapshot")
    samples = alternate(
        {
            "python": partial(timed, [PY, "-c", PYTHON_FLOOR], repo, ctx.env),
            "git": partial(timed, ["sh", "-c", GIT_SNAPSHOT], repo, ctx.env),
        },
        ctx.repeat,
    )
    row = Row(
        "run_python_floor",
        f"Python start-up + `{PYTHON_FLOOR}`, no work (any Python recorder's floor)",
        "s",
        against="git plumbing snapshot of the same repository",
    )
    return compare(row, samples["python"], samples["git"], None, at_most=True)
