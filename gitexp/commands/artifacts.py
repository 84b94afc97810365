"""``gitexp artifacts``: versions, aliases, producers and consumers; moving an alias."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitexp.artifacts.aliases import alias_log, move_alias
from gitexp.artifacts.catalog import Catalog, Version
from gitexp.cli_support import add_example, open_repo, print_json
from gitexp.errors import UsageError
from gitexp.model.ids import short_id
from gitexp.model.lineage import check_alias
from gitexp.render.cells import fmt_time, printable, table
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers

ACTIONS = ("alias", "history")


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "artifacts",
        help="list artifact versions and aliases; move an alias (a model registry)",
        description="Without arguments, list every artifact name with its versions (v0 is "
        "the version whose first producing run started first), aliases, producing run and "
        "the runs that used it; with NAME, that artifact only. `gitexp artifacts alias "
        "NAME:VERSION ALIAS` points ALIAS at that version: one more commit on "
        "refs/gitexp/aliases/NAME/ALIAS, whose commits are the log of the alias's moves "
        "(pushed and pulled with the runs, never forced). `gitexp artifacts history "
        "NAME:ALIAS` prints that log. VERSION is vN, latest, an alias or a digest prefix.",
    )
    parser.add_argument(
        "words",
        nargs="*",
        metavar="NAME | alias NAME:VERSION ALIAS | history NAME:ALIAS",
        help="an artifact name, or an action and its arguments",
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_example(
        parser,
        "gitexp artifacts",
        "gitexp artifacts model",
        "gitexp artifacts alias model:v3 production",
        "gitexp artifacts history model:production",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    action = words[0] if words and words[0] in ACTIONS else None
    with open_repo() as repo:
        if action == "alias":
            if len(words) != 3 or ":" not in words[1]:
                raise UsageError(
                    "usage: gitexp artifacts alias NAME:VERSION ALIAS",
                    "For example: gitexp artifacts alias model:v3 production",
                )
            problem = check_alias(words[2])
            if problem:
                raise UsageError(problem, "Choose another alias, e.g. `production`.")
            version = Catalog(repo).resolve(words[1])
            producer = version.producer.id if version.producer else None
            move = move_alias(repo, version.name, words[2], version.digest, producer, version.label)
            result = {
                "name": move.name,
                "alias": move.alias,
                "version": version.label,
                "digest": move.digest,
                "run": producer,
                "commit": move.commit.decode(),
            }
            if args.json:
                print_json(result)
            else:
                print(
                    f"{printable(move.name)}:{printable(move.alias)} -> {version.label} "
                    f"({move.digest[:12]}, run {short_id(producer or '?')}); "
                    "`gitexp push` shares the move"
                )
            return 0
        if action == "history":
            if len(words) != 2 or ":" not in words[1]:
                raise UsageError(
                    "usage: gitexp artifacts history NAME:ALIAS",
                    "For example: gitexp artifacts history model:production",
                )
            name, _, alias = words[1].partition(":")
            moves = alias_log(repo, name, alias)
            catalog = Catalog(repo)
            rows: list[dict[str, object]] = []
            for move in moves:
                known = catalog.by_digest(name, move.digest)
                rows.append(
                    {
                        "version": known.label if known else None,
                        "digest": move.digest,
                        "run": move.run,
                        "by": move.by,
                        "at": move.at,
                        "commit": move.commit.decode(),
                    }
                )
            if args.json:
                print_json(rows)
            elif not rows:
                print(f"No moves of {printable(words[1])}.")
            else:
                shown = [
                    [
                        fmt_time(row["at"]),
                        row["version"] or "(unknown here)",
                        str(row["digest"])[:12],
                        short_id(str(row["run"] or "?")),
                        printable(str(row["by"])),
                    ]
                    for row in rows
                ]
                print(table(shown, ["moved", "version", "digest", "run", "by"]))
            return 0
        if len(words) > 1:
            raise UsageError(
                f"gitexp artifacts takes one NAME, or an action ({', '.join(ACTIONS)})",
                "For example: gitexp artifacts model",
            )
        catalog = Catalog(repo)
    names = [words[0]] if words else sorted(catalog.versions)
    if words and words[0] not in catalog.versions:
        catalog.resolve(words[0])  # raises, naming the artifacts there are
    listed = [version for name in names for version in catalog.versions[name]]
    if args.json:
        print_json([_as_json(version) for version in listed])
        return 0
    if not listed:
        print("No artifact versions yet. Log one: run.log_artifact(gitexp.Artifact(...))")
        return 0
    lines = [
        [
            printable(version.name),
            version.label,
            ", ".join(version.aliases),
            printable(version.output.type),
            plural(len(version.output.files), "file"),
            version.digest[:12],
            _runs(version.producers),
            _runs(version.consumers),
        ]
        for version in listed
    ]
    print(
        table(
            lines, ["name", "version", "aliases", "type", "files", "digest", "logged by", "used by"]
        )
    )
    return 0


def _runs(entries: Sequence[object]) -> str:
    ids = [short_id(str(getattr(entry, "id", ""))) for entry in entries]
    return ", ".join(ids[:3]) + (f" (+{len(ids) - 3})" if len(ids) > 3 else "")


def _as_json(version: Version) -> dict[str, object]:
    return {
        "name": version.name,
        "version": version.label,
        "digest": version.digest,
        "type": version.output.type,
        "aliases": version.aliases,
        "files": [item.name for item in version.output.files],
        "size": version.output.size,
        "references": version.output.references,
        "metadata": version.output.metadata,
        "logged_by": [entry.id for entry in version.producers],
        "used_by": [entry.id for entry in version.consumers],
    }
