"""``gitexp ui``: a local dashboard of this repository's runs, on 127.0.0.1."""

from __future__ import annotations

import argparse
import signal
import textwrap
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, add_project_option, open_repo, say
from gitexp.errors import UsageError
from gitexp.render.server import DEFAULT_PORT, serve

if TYPE_CHECKING:
    from types import FrameType

    from gitexp.cli_support import Subparsers
    from gitexp.share.livepull import LivePull


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve a dashboard of all runs on 127.0.0.1",
        description=textwrap.fill(
            "Serve a dashboard of this repository's runs on 127.0.0.1 (this "
            "machine only): a runs table to pick from (with a --where filter box), and for the "
            "picked runs the views of `gitexp report`: curves, histograms, config and metric "
            "differences, code diffs, environment, notes. Curves of runs still going refresh "
            "every 2 seconds. Ctrl-C stops the server.",
            88,
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"the port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    add_project_option(parser)
    parser.add_argument(
        "--pull",
        metavar="REMOTE",
        help="pull REMOTE's runs in the background while serving (as `gitexp pull "
        "--no-artifacts`), so teammates' runs appear and grow without a restart",
    )
    parser.add_argument(
        "--every", metavar="DURATION", help="with --pull: how often (30s, 5m; default 1m)"
    )
    add_example(
        parser,
        "gitexp ui",
        "gitexp ui --port 9000",
        "gitexp ui --project lr_project",
        "gitexp ui --pull origin --every 30s   # runs pushed from a cluster, live",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    if args.every and not args.pull:
        raise UsageError(
            "--every needs --pull REMOTE", "Example: gitexp ui --pull origin --every 1m"
        )
    with open_repo() as repo:
        root = repo.root
    rounds = _pulling(root, args.pull, args.every) if args.pull else None
    try:
        server = serve(root, args.port, args.project)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}",
            "Pick another port with --port N (0 picks a free one).",
        ) from None
    # `kill` stops it as cleanly as Ctrl-C; set before the URL is printed, because a
    # script that waits for that line may stop the server at once.
    signal.signal(signal.SIGTERM, _stop)
    try:
        print(f"gitexp ui: serving {server.url} (Ctrl-C stops it)", flush=True)
        if rounds is not None:
            # The page holds the server's lock while it reads; a round holds it only
            # while it updates refs, never while it waits on the network.
            rounds.guard = lambda: server.lock
            server.pulling = rounds.state
            rounds.start()
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        say("ui stopped")
    finally:
        if rounds is not None:
            rounds.stop()
            # A round updating refs holds the lock: let it finish (its mirrors dropped,
            # its fetch marked seen) rather than cut it short as the process ends.
            server.lock.acquire(timeout=30)
        server.server_close()
    return 0


def _pulling(root: str, remote: str, every: str | None) -> LivePull:
    """`--pull REMOTE`: rounds of `gitexp pull --no-artifacts` in a thread of the server
    (share/livepull.py); the remote and interval are checked before it starts."""
    from gitexp.share.livepull import DEFAULT_EVERY, LivePull
    from gitexp.share.livepush import check_remote, parse_every

    check_remote(root, remote, "to pull runs from")
    seconds = parse_every(every) if every else DEFAULT_EVERY
    # quiet: a round's fetch must not print over the server's log every minute
    return LivePull(root, remote, seconds, say, artifacts=False, quiet=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
