"""``gitexp agent SWEEP``: run a sweep's trials on this machine, taken through a git remote.

wandb's ``wandb agent SWEEP_ID`` without a server: start it on every machine that has a
clone of the repository and can push to the remote (sweep/agent.py says how trials are
claimed and when a claim is stale).
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
from typing import Any

from gitexp.cli_support import add_example, confirm_foreign_command, open_repo, say, terminal_text
from gitexp.errors import UsageError
from gitexp.render.words import plural

EXIT_SOME_FAILED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run a sweep's trials here, claimed through a git remote (wandb agent)",
        description=textwrap.fill(
            "Pull the sweep SWEEP (made by `gitexp sweep --create`, or any search) from a "
            "git remote, claim its next trial there (a create-only push of "
            "refs/gitexp/claims/SWEEP/N: no two agents run the same trial), run it as "
            "`gitexp run --push REMOTE`, and go on until no trial is left or --count ran. "
            "Start one on each machine (see docs/workflow.md#agents-on-several-machines).",
            88,
        ),
    )
    parser.add_argument("sweep", metavar="SWEEP", help="the sweep (its group, or a prefix)")
    parser.add_argument(
        "--remote",
        metavar="REMOTE",
        help="the git remote the agents share, by name (default: as git push)",
    )
    parser.add_argument("--count", type=int, metavar="N", help="run at most N trials, then stop")
    parser.add_argument(
        "--stale-after",
        default="10m",
        metavar="DURATION",
        help="take over a claim with no run on the remote after this long (default 10m)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="run the command of a sweep made in another clone without asking",
    )
    add_example(
        parser,
        "gitexp sweep --create --method grid -p lr=0.1,0.01 --metric loss --group lr -- "
        "python train.py",
        "gitexp agent lr --remote origin            # on each machine",
        "gitexp agent lr --remote origin --count 5 --yes",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from gitexp.share.livepush import parse_every
    from gitexp.share.remotes import default_remote, is_named_remote
    from gitexp.sweep.agent import run_agent

    if args.count is not None and args.count < 1:
        raise UsageError("--count takes a number of at least 1", "Example: --count 5")
    stale = parse_every(args.stale_after, "--stale-after")
    with open_repo() as repo:
        root = repo.root
        remote = args.remote or default_remote(root, for_push=True, named_by="--remote NAME")
        if not is_named_remote(root, remote):
            raise UsageError(
                f"--remote {remote[:200]!r} is not a remote of this repository: agents read "
                "each other's claims from its remote-tracking refs",
                "Add it once: `git remote add NAME URL`, then --remote NAME.",
            )

    def consent(sweep_id: str, command: list[str]) -> None:
        _consent(sweep_id, command, args.yes)

    outcome = run_agent(root, remote, args.sweep, args.count, say, consent, stale)
    say(f"agent: sweep {outcome.sweep}: {outcome.reason}")
    if outcome.ran:
        say(f"agent: ran {plural(len(outcome.ran), 'trial')} here")
    if outcome.failed:
        say(
            f"{len(outcome.failed)} of {plural(len(outcome.ran), 'trial')} failed here: "
            f"{', '.join(outcome.failed)}"
        )
        return EXIT_SOME_FAILED
    return 0


def _consent(sweep_id: str, command: list[str], yes: bool) -> None:
    """A sweep made in another clone runs its recorded command here: shown, and run only
    when the user says so (a terminal's answer, or --yes)."""
    say(f"sweep {sweep_id} was not created in this clone (it came from a remote)")
    say(terminal_text(f"  each trial runs: {shlex.join(command)}"))
    confirm_foreign_command(yes, "no trial run: you said no")
