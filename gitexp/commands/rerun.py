"""``gitexp rerun RUN``: run a recorded run again in an isolated checkout and say if it reproduced.

Exit codes: 0 identical or within tolerance, 1 different, 8 the rerun's command failed,
130 interrupted; the usual codes for errors before the command ran (docs/cli.md).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from gitexp.cli_support import add_example, confirm_foreign_command, open_repo, print_json, say
from gitexp.errors import EXIT_RERUN_FAILED, UsageError
from gitexp.model import config as configmod
from gitexp.model.ids import short_id
from gitexp.model.record import INTERRUPTED
from gitexp.read.resolve import find_run
from gitexp.read.runview import RunView, load_run
from gitexp.render.cells import printable_lines
from gitexp.render.verdict import render_verdict
from gitexp.reproduce import verdict as verdictmod
from gitexp.reproduce.imported import refuse_imported
from gitexp.reproduce.replay import Tolerance, recorded_here, rerun_and_judge

EXIT_DIFFERENT = 1
EXIT_INTERRUPTED = 130


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rerun",
        help="run a recorded run again and say whether it reproduced",
        description="Re-execute a run's command with its config in an isolated checkout of "
        "its code (a temporary git worktree; your work tree is not touched), record the "
        "result as a new run linked to the original, and print a verdict: identical, within "
        "tolerance or different, with the metrics that differ and the differences in "
        "config, code, packages, hardware and inputs that may explain them. Exits 0 when it "
        "reproduced, 1 when different, 8 when the rerun's command failed.",
    )
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, name, latest or latest~N")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config value for the rerun (as in gitexp run); repeatable",
    )
    parser.add_argument(
        "--rtol", type=float, default=0.0, help="relative tolerance for numbers (default 0)"
    )
    parser.add_argument(
        "--atol", type=float, default=0.0, help="absolute tolerance for numbers (default 0)"
    )
    parser.add_argument(
        "--include-timing",
        action="store_true",
        help="also compare timing metrics (run time, throughput), left out by default",
    )
    parser.add_argument(
        "--ignore-metric",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave metrics matching this glob out of the verdict; repeatable",
    )
    parser.add_argument("--name", help="the new run's name (default: <original name>-rerun)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument(
        "--yes",
        action="store_true",
        help="run the command of a run that came from elsewhere without asking "
        "(its command is printed first)",
    )
    add_example(
        parser,
        "gitexp rerun latest",
        "gitexp rerun --yes a1b2c3d   # a teammate's run, pulled: you read its command first",
        "gitexp rerun brisk-falcon-07 --rtol 1e-6",
        "gitexp rerun 3kq9x2a -p seed=1 --json",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.rtol < 0 or args.atol < 0:
        raise UsageError("--rtol and --atol must not be negative", "Example: --rtol 1e-6")
    overrides = [configmod.parse_override(text) for text in args.param]
    tolerance = Tolerance(args.rtol, args.atol, args.include_timing, args.ignore_metric)
    with open_repo() as repo:
        original = load_run(repo, find_run(repo, args.run))
        refuse_imported(original, "rerun")
        if not recorded_here(repo, original.info.id):
            author = repo.commit_author(original.entry.commit)
            _consent(original, author, args.param, args.yes)
        rerun, result = rerun_and_judge(
            repo, original, overrides, args.name, tolerance, say, _ask_secret
        )
    if args.json:
        print_json(_as_json(original, rerun, result, args))
    else:
        verdict = render_verdict(original, rerun, result, args.rtol, args.atol, args.include_timing)
        print(printable_lines(verdict))
    if rerun.info.status == INTERRUPTED:
        return EXIT_INTERRUPTED
    if result.verdict == verdictmod.FAILED:
        return EXIT_RERUN_FAILED
    return EXIT_DIFFERENT if result.verdict == verdictmod.DIFFERENT else 0


def _consent(original: RunView, author: str, params: list[str], yes: bool) -> None:
    """A run this clone did not record runs someone else's command: show it exactly, and
    run it only when the user says so (a terminal's answer, or --yes)."""
    info = original.info
    say(f"run {short_id(info.id)} {info.name} was not recorded in this clone (it came from")
    say("  a remote or another tool); rerunning it runs its command on this machine:")
    say(f"  command   {shlex.join(info.command)}")
    if info.command_template:  # what runs is this, its ${...} filled from the rerun's config
        say(f"  template  {shlex.join(info.command_template)}")
    say(f"  folder    {info.cwd or '.'}/ in an isolated checkout of the run's code")
    if params:
        say(f"  with      {' '.join(f'-p {p}' for p in params)}")
    say(f"  recorded  on {info.host or 'an unknown host'} by {author} (as the run claims)")
    confirm_foreign_command(
        yes,
        "not rerun: you said no",
        "Read the command above; to run it, add --yes (docs/reproduce.md).",
    )


def _ask_secret(variable: str, what: str) -> str | None:
    """A redacted value, asked on the terminal (never echoed); None without a terminal."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    import getpass

    try:
        return getpass.getpass(f"{what} was redacted; its value ({variable}): ", sys.stderr)
    except (EOFError, KeyboardInterrupt):
        return None


def _as_json(
    original: RunView, rerun: RunView, result: verdictmod.Verdict, args: argparse.Namespace
) -> dict[str, Any]:
    def run(view: RunView) -> dict[str, Any]:
        info = view.info
        return {
            "id": info.id,
            "name": info.name,
            "status": info.status,
            "exit_code": info.exit_code,
        }

    return {
        "verdict": result.verdict,
        "original": run(original),
        "rerun": {**run(rerun), "rerun_of": rerun.info.rerun_of},
        "rtol": args.rtol,
        "atol": args.atol,
        "include_timing": args.include_timing,
        "metrics": result.metrics,
        "differing": [m["key"] for m in result.differing],
        "excluded": result.excluded,
        "explain": result.explain,
    }
