"""The ``gitexp`` command line: parse, call one command, turn errors into exit codes.

Exit codes (docs/cli.md): 0 success; a recorded command's own code for ``gitexp run``;
1 ``gitexp rerun`` found a different result; 2 usage; 3 not a git repository; 4 config;
5 unknown or ambiguous run; 6 repository state; 7 run format; 8 ``gitexp rerun``'s
command failed; 9 a push, pull or artifact transfer did not complete; 70 internal
error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import Callable, Sequence

from gitexp._version import describe
from gitexp.errors import EXIT_INTERNAL, EXIT_REPO_STATE, GitexpError
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

COMMANDS = (
    "run",
    "sweep",
    "agent",
    "ls",
    "projects",
    "artifacts",
    "show",
    "diff",
    "compare",
    "plot",
    "importance",
    "report",
    "ui",
    "tag",
    "note",
    "rename",
    "restore",
    "branch",
    "rerun",
    "rm",
    "push",
    "pull",
    "install",
    "uninstall",
    "gc",
    "demo",
    "doctor",
    "shim",
    "completion",
    "import",
    "export",
)
# A command whose name cannot be a module's (``import`` is a keyword).
_MODULE_OF = {"import": "importrun"}


_ENVIRONMENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with ``only`` the parser of that one command.

    Every command module imports what its work needs (dulwich, PyYAML, http.server...);
    building one subparser instead of all of them keeps ``gitexp run`` start-up short.
    """
    import importlib

    parser = _Parser(
        prog="gitexp",
        description="Record every training run as a git commit on a hidden ref, then list,\n"
        "compare and share runs with git.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the epilog's example lines
    )
    if only is None:  # `gitexp --help`: examples under the list of commands
        from gitexp.guide import EPILOG

        parser.epilog = EPILOG
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="show program's version number and exit"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in (only,) if only else COMMANDS:
        module = importlib.import_module(f"gitexp.commands.{_MODULE_OF.get(name, name)}")
        module.add_parser(subparsers)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, asking the terminal's width only when it prints help or usage.

    argparse makes a help formatter for every ``add_argument`` (to check the metavar) and
    every formatter asks for the terminal's width, which imports shutil, and shutil
    imports bz2 and lzma: ~1.5 ms of every command's start-up, ``gitexp run`` included.
    The width matters only to text that is printed.  Subparsers inherit the class.
    """

    _printing = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        if self._printing:
            return super()._get_formatter()
        make: Any = self.formatter_class  # typeshed's protocol names only ``prog``
        return make(prog=self.prog, width=_UNPRINTED_WIDTH)  # type: ignore[no-any-return]

    def format_usage(self) -> str:
        return self._printed(super().format_usage)

    def format_help(self) -> str:
        return self._printed(super().format_help)

    def _printed(self, build: Callable[[], str]) -> str:
        self._printing = True
        try:
            return build()
        finally:
            self._printing = False


_UNPRINTED_WIDTH = 1000  # wide enough that nothing is wrapped where text is not printed


class _VersionAction(argparse.Action):
    """``--version`` anywhere on the line: print and exit.  argparse's own action needs the
    text when the parser is built, and working it out asks git about a source checkout
    (two processes, ~20 ms) on every command."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        print(describe())
        parser.exit()


# Options whose value may start with "-" (``--sort -metrics.loss``, descending): argparse
# would read such a value as an unknown option, so it is glued on as ``--sort=-...``.
_DASH_VALUE_OPTIONS = ("--sort",)


def _glue_dash_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":  # everything after belongs to the recorded command
            out.extend(argv[i:])
            break
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in _DASH_VALUE_OPTIONS and following[:1] == "-" and following[:2] != "--":
            out.append(f"{arg}={following}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = _glue_dash_values(list(sys.argv[1:] if argv is None else argv))
    if not argv:
        # A newcomer typing `gitexp` asked what to do, not made a mistake: guide, exit 0.
        from gitexp.guide import guide

        print(guide())
        return 0
    if argv == ["--version"]:  # without building every command's parser (~0.2 s)
        print(describe())
        return 0
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except GitexpError as exc:
        from gitexp.cli_support import terminal_text

        # A message may quote a run's name or path (an ambiguous reference lists them).
        print(f"gitexp: error: {terminal_text(exc.message)}", file=sys.stderr)
        if exc.hint:
            print(f"  {terminal_text(exc.hint)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # before OSError, which it is
        return 0  # `gitexp ls | head`: the reader has seen enough
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        # The machine said no (permissions, a full or read-only disk): not a gitexp bug.
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"gitexp: error: {exc.strerror}{where}", file=sys.stderr)
        print(
            "  Free disk space or fix permissions, then run the command again; a run that "
            "was going is finalized by the next gitexp command.",
            file=sys.stderr,
        )
        return EXIT_REPO_STATE
    except KeyboardInterrupt:
        print("gitexp: interrupted", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print(
            "gitexp: internal error (a bug in gitexp); please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def run_command() -> None:
    """The ``gitexp`` command (and ``python -m gitexp``): :func:`main`, then a quick exit."""
    exit_quickly(main())


def exit_quickly(code: int) -> None:
    """Exit with ``code`` without Python's interpreter teardown.

    Freeing every module and object at exit costs a command 10-20 ms, a tenth of a
    whole ``gitexp run -- true``, and gitexp leaves nothing that needs it: files are
    closed and refs written before this point.  Exit handlers still run and output is
    flushed; where a non-daemon thread is still alive (a library's worker), or a
    profiler, coverage or a debugger is attached, the normal exit happens.
    """
    import atexit
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)  # a profiler, coverage or a debugger writes its report at exit
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`gitexp ls | head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run_command()
