"""``gitexp pull [REMOTE [RUN...]]``: runs from a git remote, their artifacts from DVC's."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from gitexp.cli_progress import progress_for
from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.errors import UsageError
from gitexp.git.repo import GitRepo
from gitexp.model.ids import short_id
from gitexp.read.listing import list_runs
from gitexp.render.cells import fmt_value, printable
from gitexp.share.aliassync import pull_aliases
from gitexp.share.livepull import DEFAULT_EVERY, LivePull
from gitexp.share.livepush import parse_every
from gitexp.share.pull import pull_runs
from gitexp.share.remotes import NEW, UPDATED, SyncReport, default_remote, describe, print_report

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "pull",
        help="fetch runs from a git remote, their artifacts from the DVC remote",
        description="Fetch a remote's runs through `git fetch` into "
        "refs/remotes/<remote>/gitexp/runs/, create the new ones here and fast-forward the "
        "ones the remote extended (a run whose history differs on the two sides is "
        "reported and left alone, and so is a finished run the remote changed other than "
        "by an edit or a resumption; local runs are never deleted), then download their "
        "artifacts into the DVC cache. Exits 9 if anything failed.",
    )
    parser.add_argument(
        "remote", nargs="?", metavar="REMOTE", help="git remote name or URL (default: as git)"
    )
    parser.add_argument("runs", nargs="*", metavar="RUN", help="pull only these runs")
    parser.add_argument(
        "--dvc-remote", metavar="NAME", help="the DVC remote for artifacts (default: DVC's)"
    )
    parser.add_argument(
        "--no-artifacts",
        action="store_true",
        help="fetch the runs only; `gitexp restore` downloads artifacts when needed",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="pull again and again, printing each run that arrived or moved (its status and "
        "latest metrics), until Ctrl-C: teammates' runs as they train (gitexp run --push)",
    )
    parser.add_argument(
        "--every", metavar="DURATION", help="with --watch: how often (30s, 5m; default 1m)"
    )
    add_example(
        parser,
        "gitexp pull",
        "gitexp pull origin 3kq9x2a --no-artifacts",
        "gitexp pull --watch --every 30s",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        root = repo.root
    remote = args.remote or default_remote(root, for_push=False)
    if args.every and not args.watch:
        raise UsageError("--every needs --watch", "Example: gitexp pull --watch --every 1m")
    if args.watch:
        if args.json:
            raise UsageError("--watch prints a line per change; it has no --json")
        return _watch(args, root, remote, parse_every(args.every) if args.every else DEFAULT_EVERY)
    report = pull_runs(
        root,
        remote,
        args.runs or None,
        args.dvc_remote,
        not args.no_artifacts,
        say=say,
        progress=progress_for(args.json),
    )
    if not args.runs:  # every run: the registry's aliases come with them
        with open_repo() as repo:
            report.aliases = pull_aliases(repo, remote)
    return print_report(report, "fetched", args.json, print_json)


def _watch(args: argparse.Namespace, root: str, remote: str, every: float) -> int:
    """Pull every ``every`` seconds; one line per run that arrived or moved; Ctrl-C ends."""
    say(f"watching {remote} every {every:g}s (Ctrl-C stops)")
    rounds = LivePull(
        root, remote, every, say, args.runs or None, args.dvc_remote, not args.no_artifacts
    )
    try:
        rounds.watch(lambda report: _print_round(root, report))
    except KeyboardInterrupt:
        return 0
    return 0


def _print_round(root: str, report: SyncReport) -> None:
    moved = [item for item in report.runs if item.action in (NEW, UPDATED)]
    problems = [item for item in report.runs if item.error]
    if not (moved or problems or report.sweeps):
        return
    stamp = time.strftime("%H:%M:%S")
    with GitRepo.discover(root) as repo:
        rows = {entry.id: entry.row for entry in list_runs(repo)}
    lines = []
    for item in moved:
        row = rows.get(item.id) or {}
        metrics = row.get("metrics") or {}
        shown = [
            f"{key}={fmt_value(stats.get('last'))}"
            for key, stats in list(metrics.items())[:3]
            if isinstance(stats, dict)
        ]
        lines.append(
            f"{stamp}  {item.action:<8} {short_id(item.id)}  {printable(item.name)}  "
            f"{printable(str(row.get('status', '?')))}  {printable(' '.join(shown))}".rstrip()
        )
    lines += [describe(item) for item in problems if item not in moved]
    lines += [f"{stamp}  {printable(line)}" for line in report.sweeps]
    print("\n".join(lines), flush=True)
