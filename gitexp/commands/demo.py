"""``gitexp demo``: record three runs of a small training script in a scratch repository.

It shows the whole loop on a fresh machine: a git repository with a training script,
three runs with different learning rates (one with an uncommitted edit), the runs
table, and the comparison of two runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from importlib import resources
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, say
from gitexp.errors import RepositoryStateError
from gitexp.git import binary as gitbin

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers

LEARNING_RATES = ("0.01", "0.1", "0.5")


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="record three demo runs in a scratch repository and compare them",
        description="Create a scratch git repository with a small training script, record "
        "three runs with different learning rates, print the runs table and the diff of two.",
    )
    parser.add_argument("dir", nargs="?", help="where to create it (default: a new temp folder)")
    add_example(parser, "gitexp demo", "gitexp demo ./gitexp-demo")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    where = os.path.abspath(args.dir) if args.dir else tempfile.mkdtemp(prefix="gitexp-demo-")
    if os.path.exists(where) and os.listdir(where):
        raise RepositoryStateError(
            f"{where} is not empty; the demo needs a new folder",
            "Give another folder: gitexp demo ./new-folder",
        )
    os.makedirs(where, exist_ok=True)
    say(f"creating a demo repository in {where}")
    script = resources.files("gitexp.demo").joinpath("train.py").read_text(encoding="utf-8")
    with open(os.path.join(where, "train.py"), "w", encoding="utf-8") as handle:
        handle.write(script)
    with open(os.path.join(where, ".gitignore"), "w", encoding="utf-8") as handle:
        handle.write("__pycache__/\ncheckpoints/\n")
    gitbin.init_with_commit(where, "gitexp demo", "demo@gitexp.invalid", "A small training script")
    gitexp = [sys.executable, "-m", "gitexp"]
    for index, lr in enumerate(LEARNING_RATES):
        if index == 2:
            # An uncommitted edit: the run still records the code exactly as it ran.
            path = os.path.join(where, "train.py")
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text.replace('"epochs": 12', '"epochs": 16'))
        say(f"recording run {index + 1} of 3: lr={lr}")
        command = [
            *gitexp,
            "run",
            "--name",
            f"demo-lr-{lr}",
            "-p",
            f"lr={lr}",
            "--tag",
            "demo",
            "--",
            sys.executable,
            "train.py",
        ]
        code = subprocess.run(command, cwd=where, stdout=subprocess.DEVNULL).returncode
        if code != 0:
            say(f"the demo run failed with exit code {code}")
            return code
    print("\n$ gitexp ls", flush=True)
    subprocess.run([*gitexp, "ls"], cwd=where, check=True)
    print("\n$ gitexp diff demo-lr-0.01 demo-lr-0.5", flush=True)
    subprocess.run([*gitexp, "diff", "demo-lr-0.01", "demo-lr-0.5"], cwd=where, check=True)
    print(
        f"\nThe runs are git commits: cd {where} and try\n"
        "  git for-each-ref refs/gitexp/runs\n"
        "  git show $(git for-each-ref --format='%(refname)' refs/gitexp/runs | head -1)"
        ":.gitexp/metrics.json"
    )
    return 0
