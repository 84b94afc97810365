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
    add_example(parser, "gitexp ui", "gitexp ui --port 9000", "gitexp ui --project lr_project")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    with open_repo() as repo:
        root = repo.root
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
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        say("ui stopped")
    finally:
        server.server_close()
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
