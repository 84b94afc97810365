"""``gitexp shim install|uninstall|status``: ``import wandb`` answered by gitexp in this
Python environment, for code that calls wandb and cannot be edited."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, show_report
from gitexp.integrations import shim

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "shim",
        help="make `import wandb` use gitexp in this Python environment (opt-in)",
        description="Install, remove or show the wandb drop-in: an import hook in this "
        "Python environment's site-packages that answers `import wandb` with gitexp, so "
        "Lightning's WandbLogger, Hugging Face's report_to='wandb', Accelerate's "
        "log_with='wandb' and other code that calls wandb record gitexp runs unchanged. "
        "Run it with the Python you train with (activate the virtual environment first). "
        "It refuses while the real wandb package is installed, unless --force.",
    )
    parser.add_argument("action", choices=("install", "uninstall", "status"))
    parser.add_argument(
        "--site",
        metavar="DIR",
        help="the site-packages folder to write to (default: this Python's)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="install even though the real wandb is installed (it still wins while importable)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_example(parser, "gitexp shim install", "gitexp shim status", "gitexp shim uninstall")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.action == "uninstall":
        removed = shim.uninstall(args.site)
        lines = [f"removed {path}" for path in removed] or ["the wandb shim was not installed"]
        show_report({"removed": [str(p) for p in removed]}, lines, args.json)
        return 0
    state = (
        shim.install(args.site, args.force) if args.action == "install" else shim.status(args.site)
    )
    data = {
        "site": str(state.site),
        "installed": state.installed,
        "files": [str(p) for p in state.files],
        "real_wandb": state.real_wandb,
    }
    if state.installed:
        lines = [f"wandb shim installed in {state.site}: `import wandb` records gitexp runs"]
    else:
        lines = [f"wandb shim not installed in {state.site}"]
    if state.real_wandb:
        lines.append(f"the real wandb is installed ({state.real_wandb}): it wins while importable")
    show_report(data, lines, args.json)
    return 0
