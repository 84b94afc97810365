"""``gitexp gc``: remove artifacts no run references (DVC cache; with --cloud the remote too)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.artifacts import gc as artifact_gc
from gitexp.cli_progress import progress_for
from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.render.words import plural
from gitexp.share.remotes import default_remote

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "gc",
        help="remove artifacts that no run references from the DVC cache (and remote)",
        description="Remove from the DVC cache the artifact objects that no run uses: "
        "neither a run here, nor a run seen on a git remote, nor DVC itself (work tree, "
        "branches, tags, remote-tracking refs). With --cloud, first fetch the git "
        "remote's runs, then clean the DVC remote as well. Objects newer than "
        "--keep-recent are kept (a run or push in progress).",
    )
    parser.add_argument(
        "--cloud", action="store_true", help="also remove unused objects from the DVC remote"
    )
    parser.add_argument(
        "--remote",
        metavar="REMOTE",
        help="with --cloud: the git remote whose runs share the DVC remote (default: as git)",
    )
    parser.add_argument("--dvc-remote", metavar="NAME", help="the DVC remote (default: DVC's)")
    parser.add_argument(
        "--keep-recent",
        default="1h",
        metavar="DURATION",
        help="keep objects written within DURATION (default 1h; 0 keeps none)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be removed, remove nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_example(parser, "gitexp gc --dry-run", "gitexp gc --cloud --keep-recent 1d")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    keep = artifact_gc.parse_duration(args.keep_recent)
    with open_repo() as repo:
        root = repo.root
    git_remote = None
    if args.cloud:
        git_remote = args.remote or default_remote(
            root, for_push=False, named_by="gitexp gc --cloud --remote REMOTE"
        )
    results = artifact_gc.collect_garbage(
        root,
        git_remote,
        args.dvc_remote,
        keep,
        args.dry_run,
        progress_for(args.json),
        say,
    )
    if args.json:
        print_json(
            [
                {
                    "where": r.where,
                    "objects": r.total,
                    "removed": r.removed,
                    "kept_recent": r.kept_recent,
                    "dry_run": args.dry_run,
                }
                for r in results
            ]
        )
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for result in results:
        line = f"{result.where}: {verb} {len(result.removed)} of {plural(result.total, 'object')}"
        if result.kept_recent:
            line += f"; kept {result.kept_recent} newer than {args.keep_recent}"
        print(line)
    return 0
