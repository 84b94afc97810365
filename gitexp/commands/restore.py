"""``gitexp restore RUN [PATH...]``: make the work tree (or some paths) match a run's snapshot."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.artifacts import restore as artifact_restore
from gitexp.artifacts.pointers import in_work_tree, run_artifacts
from gitexp.cli_support import add_example, open_repo, say
from gitexp.errors import RepositoryStateError
from gitexp.model.ids import short_id
from gitexp.read.resolve import find_run
from gitexp.read.runview import load_run
from gitexp.render.cells import printable
from gitexp.render.words import plural
from gitexp.reproduce import restore
from gitexp.reproduce.imported import refuse_imported

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="make the work tree (or some paths) match a run's code",
        description="Write a run's snapshot into the work tree: tracked and untracked files "
        "as they were when it ran, with their modes. Refuses to overwrite uncommitted work "
        "unless --stash or --force; never moves HEAD, the index or branches; never writes the "
        "run's .gitexp/ metadata; leaves files the run did not have unless --exact.",
    )
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, name, latest or latest~N")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="restore only these paths")
    risky = parser.add_mutually_exclusive_group()
    risky.add_argument(
        "--stash",
        action="store_true",
        help="save uncommitted work that would be overwritten under refs/gitexp/stash/ first",
    )
    risky.add_argument(
        "--force", action="store_true", help="overwrite uncommitted work without saving it"
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help="also remove files the run did not have (never ignored files)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )
    add_example(
        parser,
        "gitexp restore latest",
        "gitexp restore brisk-falcon-07 train.py --stash",
        "gitexp restore 3kq9x2a --exact --force",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        view = load_run(repo, entry)
        refuse_imported(view, "restore")
        label = f"run {short_id(entry.id)} {view.info.name}"
        specs = restore.pathspecs(repo, args.paths)
        target = restore.snapshot_files(repo, view.root_tree)
        recorded = [a.path.encode() for a in in_work_tree(run_artifacts(repo, entry.commit))]
        plan = restore.plan_restore(repo, target, specs, args.exact, recorded)
        artifacts = artifact_restore.plan_artifacts(repo, entry.commit, specs, plan)
        if args.dry_run:
            _print_plan(plan, label)
            for item in artifacts.writes:  # artifacts/restore.py
                risky = " (uncommitted work)" if item.path in artifacts.at_risk else ""
                print(f"  write   {printable(item.path)}   (artifact, from DVC){risky}")
            return 0
        if artifacts.at_risk and not args.force:
            raise RepositoryStateError(
                f"restoring {label} would overwrite {plural(len(artifacts.at_risk), 'file')} git "
                "cannot bring back with the run's artifacts:\n" + _listing(artifacts.at_risk),
                "Move them out of the way, or overwrite them with --force "
                "(--stash does not save artifact files).",
            )
        if plan.at_risk and not (args.stash or args.force):
            raise RepositoryStateError(
                f"restoring {label} would overwrite uncommitted work in "
                f"{len(plan.at_risk)} file{'s' if len(plan.at_risk) != 1 else ''}:\n"
                + _listing(plan.at_risk),
                "Save them first with --stash (plain git brings them back), or overwrite "
                "them with --force.",
            )
        stash_command = None
        if args.stash and plan.at_risk:
            ref, stash_command = restore.stash_at_risk(repo, plan, entry.id)
            say(f"saved {plural(len(plan.at_risk), 'file')} with uncommitted work in {ref}")
        restore.apply_plan(repo, plan)
        restored = artifact_restore.materialize(repo, artifacts.writes, say)
    _report(plan, label, stash_command)
    if restored:
        say(f"restored {plural(len(restored), 'artifact')}, hashes checked: {', '.join(restored)}")
    return 0


def _listing(paths: list[str]) -> str:
    shown = [f"    {p}" for p in paths[: restore.MAX_LISTED]]
    if len(paths) > restore.MAX_LISTED:
        shown.append(f"    ... and {len(paths) - restore.MAX_LISTED} more")
    return "\n".join(shown)


def _print_plan(plan: restore.RestorePlan, label: str) -> None:
    risky = set(plan.at_risk)
    # The paths are the run's: whoever recorded it named them.
    print(f"restoring {printable(label)} would:")
    for path in plan.written:
        print(f"  write   {printable(path)}{'   (uncommitted work)' if path in risky else ''}")
    for path in plan.removed:
        if path not in plan.written:
            print(f"  remove  {printable(path)}{'   (uncommitted work)' if path in risky else ''}")
    if not plan.written and not plan.removed:
        print("  change nothing: the work tree already matches")
    _notes(plan)


def _report(plan: restore.RestorePlan, label: str, stash_command: str | None) -> None:
    removed = [p for p in plan.removed if p not in plan.written]
    say(f"restored {label}: {plural(len(plan.written), 'file')} written, {len(removed)} removed")
    for path in removed:
        say(f"  removed {path}")
    _notes(plan)
    if stash_command:
        say("bring the saved files back with:")
        print(f"  {stash_command}")


def _notes(plan: restore.RestorePlan) -> None:
    if plan.kept:
        say(
            f"left {plural(len(plan.kept), 'file')} the run did not have in place "
            "(remove them with --exact)"
        )
    for path in plan.submodules:
        say(f"submodule {path} not restored: check it out with `git submodule update`")
