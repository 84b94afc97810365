"""``gitexp rm RUN...``: delete runs (their refs; git gc reclaims the objects later)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo, print_json, say
from gitexp.errors import RepositoryStateError, TransferError
from gitexp.model.ids import short_id
from gitexp.read.listing import list_runs
from gitexp.read.resolve import resolve
from gitexp.record.removal import remove_runs
from gitexp.render.cells import printable
from gitexp.render.words import plural
from gitexp.share.push import delete_remote_runs

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "rm",
        help="delete runs",
        description="Delete runs: their refs under refs/gitexp/runs/. Every reference is "
        "resolved first; if any is unknown or ambiguous nothing is deleted. The objects stay "
        "until git gc reclaims them, so the printed `git update-ref` command undoes it.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run references to delete")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted, delete nothing"
    )
    parser.add_argument("--force", action="store_true", help="also delete runs running here")
    parser.add_argument(
        "--remote",
        metavar="REMOTE",
        help="delete the runs on this git remote too (their artifacts stay until gitexp gc)",
    )
    parser.add_argument("--json", action="store_true", help="print the deleted runs as JSON")
    add_example(
        parser,
        "gitexp rm latest",
        "gitexp rm 3kq9x2a brisk-falcon-07 --dry-run",
        "gitexp rm --remote origin 3kq9x2a",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        runs = list_runs(repo)
        entries = [resolve(text, runs) for text in args.runs]
        removed = remove_runs(repo, entries, args.dry_run, args.force)
        on_remote: dict[str, str | None] = {}
        if args.remote and not args.dry_run:  # share/push.py
            gone = [item.entry.id for item in removed if item.deleted]
            on_remote = delete_remote_runs(repo, args.remote, gone) if gone else {}
    failed = [item for item in removed if not item.deleted]
    if args.json:
        print_json(
            [
                {
                    "id": item.entry.id,
                    "name": item.entry.name,
                    "status": item.entry.status,
                    "ref": item.ref,
                    "commit": item.entry.commit.decode(),
                    "deleted": item.deleted and not args.dry_run,
                    "remote_error": on_remote.get(item.entry.id),
                }
                for item in removed
            ]
        )
    else:
        verb = "would delete" if args.dry_run else "deleted"
        for item in removed:
            if item.deleted:
                name, status = printable(item.entry.name), printable(str(item.entry.status))
                print(f"{verb} {short_id(item.entry.id)}  {name}  ({status})")
        if not args.dry_run and len(removed) > len(failed):
            say("undo with `git update-ref <ref> <commit>` until git gc reclaims them:")
            for item in removed:
                if item.deleted:
                    say(f"  git update-ref {item.ref} {item.entry.commit.decode()}")
    _remote_report(args, on_remote)
    if failed:
        raise RepositoryStateError(
            "changed by another gitexp while deleting, left alone: "
            + ", ".join(short_id(item.entry.id) for item in failed),
            "Look at them with `gitexp ls` and run `gitexp rm` again if you still want that.",
        )
    return 0


def _remote_report(args: argparse.Namespace, on_remote: dict[str, str | None]) -> None:
    if args.remote and args.dry_run:
        say(f"would delete them on {args.remote} too")
    if not on_remote:
        return
    if not args.json:
        say(f"deleted on {args.remote}: {sum(1 for e in on_remote.values() if e is None)}")
    errors = {run_id: error for run_id, error in on_remote.items() if error}
    if errors:
        for run_id, error in errors.items():
            say(f"  not deleted on {args.remote}: {short_id(run_id)}: {error}")
        raise TransferError(
            f"{plural(len(errors), 'run')} deleted here but not on {args.remote}",
            f"Run `git push {args.remote} --delete refs/gitexp/runs/<id>` once the "
            "remote accepts it.",
        )
