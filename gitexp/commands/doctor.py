"""``gitexp doctor``: check git, the repository, DVC, hooks and remotes; print the fixes."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, print_json
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.read.doctor import Check


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the setup (git, DVC, hooks, remotes) and print fixes",
        description="Check what gitexp depends on: the git version (2.31 or later), a work "
        "tree with commits, your git identity, DVC and its project, remote and storage "
        "plugin, the hooks of `gitexp install`, the git remotes (as configured: none is "
        "contacted) and runs whose recorder died. Each check prints ok, warn or fail, and "
        "each problem the command that fixes it. Changes nothing. Exits 0 without "
        "failures (warnings allowed), 3 outside a work tree, 6 when a check fails.",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    add_example(
        parser, "gitexp doctor", "gitexp doctor --json | jq '.checks[] | select(.status != \"ok\")'"
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gitexp.read.doctor import FAIL, diagnose, exit_code

    checks = diagnose()
    code = exit_code(checks)
    _print(checks, code, args.json)
    failed = [check for check in checks if check.status == FAIL]
    if failed:  # on stderr too, as every command reports an error (stdout may be a pipe)
        names = ", ".join(dict.fromkeys(check.name for check in failed))
        print(f"gitexp: error: {plural(len(failed), 'check')} failed: {names}", file=sys.stderr)
        print(
            "  Run the `fix:` command under each failed check, then `gitexp doctor` again.",
            file=sys.stderr,
        )
    return code


def _print(checks: list[Check], code: int, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "exit_code": code,
                "checks": [
                    {"check": c.name, "status": c.status, "message": c.message, "fix": list(c.fix)}
                    for c in checks
                ],
            }
        )
        return
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<{width}}  {check.message}")
        for command in check.fix:
            print(f"{'':<4}  {'':<{width}}  fix: {command}")
