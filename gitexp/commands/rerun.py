"""``gitexp rerun RUN``: run a recorded run again in an isolated checkout and say if it reproduced.

Exit codes: 0 identical or within tolerance, 1 different, 8 the rerun's command failed,
130 interrupted; the usual codes for errors before the command ran (docs/cli.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from gitexp.cli_support import add_example, fmt_value, open_repo, print_json, say, table
from gitexp.errors import EXIT_RERUN_FAILED, RepositoryStateError, UsageError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.model.ids import short_id
from gitexp.model.record import INTERRUPTED, RUNNING
from gitexp.read.listing import list_runs
from gitexp.read.resolve import find_run
from gitexp.read.runview import RunView, load_run
from gitexp.record import inputs as inputsmod
from gitexp.reproduce import rerun as rerunmod
from gitexp.reproduce import verdict as verdictmod
from gitexp.reproduce.restore import snapshot_files

EXIT_DIFFERENT = 1
EXIT_INTERRUPTED = 130


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rerun",
        help="run a recorded run again and say whether it reproduced",
        description="Re-execute a run's command with its config in an isolated checkout of "
        "its code (a temporary git worktree; your work tree is not touched), record the "
        "result as a new run linked to the original, and print a verdict: identical, within "
        "tolerance or different, with the metrics that differ and the differences in "
        "config, code, packages, hardware and inputs that may explain them. Exits 0 when it "
        "reproduced, 1 when different, 8 when the rerun's command failed.",
    )
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, name, latest or latest~N")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one config value for the rerun (as in gitexp run); repeatable",
    )
    parser.add_argument(
        "--rtol", type=float, default=0.0, help="relative tolerance for numbers (default 0)"
    )
    parser.add_argument(
        "--atol", type=float, default=0.0, help="absolute tolerance for numbers (default 0)"
    )
    parser.add_argument(
        "--include-timing",
        action="store_true",
        help="also compare timing metrics (run time, throughput), left out by default",
    )
    parser.add_argument(
        "--ignore-metric",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave metrics matching this glob out of the verdict; repeatable",
    )
    parser.add_argument("--name", help="the new run's name (default: <original name>-rerun)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    add_example(
        parser,
        "gitexp rerun latest",
        "gitexp rerun brisk-falcon-07 --rtol 1e-6",
        "gitexp rerun 3kq9x2a -p seed=1 --json",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.rtol < 0 or args.atol < 0:
        raise UsageError("--rtol and --atol must not be negative", "Example: --rtol 1e-6")
    overrides = [configmod.parse_override(text) for text in args.param]
    with open_repo() as repo:
        original = load_run(repo, find_run(repo, args.run))
        if original.info.status == RUNNING:
            raise RepositoryStateError(
                f"run {short_id(original.info.id)} is still running: its result is not known yet",
                "Wait for it to end, then run `gitexp rerun` again.",
            )
        roots = inputsmod.ignored_roots(repo)
        inputs_now = inputsmod.fingerprint(repo.root, roots)
        inputs_then = rerunmod.recorded_inputs(repo, original)
        config = configmod.resolve(None, original.config, overrides)
        command, note = rerunmod.command_for(original.info.command)
        if note:
            say(f"warning: {note}")
        command, config = rerunmod.fill_secrets(
            original.info.redacted,
            command,
            config,
            {".".join(keys) for keys, _value in overrides},
            _ask_secret,
        )
        with rerunmod.isolated_checkout(repo, original, roots) as checkout:
            for warning in checkout.warnings:
                say(f"warning: {warning}")
            say(f"rerunning {short_id(original.info.id)} {original.info.name} in {checkout.root}")
            include = frozenset(
                p.decode("utf-8", "surrogateescape")
                for p in snapshot_files(repo, original.root_tree)
            )
            new_id = _run(checkout, original, command, config, args.name, include)
        entry = next(e for e in list_runs(repo) if e.id == new_id)
        rerun = load_run(repo, entry)
        result = verdictmod.judge(
            repo,
            original,
            rerun,
            rtol=args.rtol,
            atol=args.atol,
            include_timing=args.include_timing,
            ignore=args.ignore_metric,
            inputs_then=inputs_then,
            inputs_now=inputs_now,
        )
    if args.json:
        print_json(_as_json(original, rerun, result, args))
    else:
        print(render(original, rerun, result, args))
    if rerun.info.status == INTERRUPTED:
        return EXIT_INTERRUPTED
    if result.verdict == verdictmod.FAILED:
        return EXIT_RERUN_FAILED
    return EXIT_DIFFERENT if result.verdict == verdictmod.DIFFERENT else 0


def _run(
    checkout: rerunmod.Checkout,
    original: RunView,
    command: list[str],
    config: dict[str, Any],
    name: str | None,
    include: frozenset[str],
) -> str:
    """Record the rerun from inside the checkout, as ``gitexp run`` would there."""
    from gitexp.record.starting import start_run
    from gitexp.record.supervise import supervise

    # Opened at the checkout's top: its folder may be a link into the work tree (data/...).
    with _inside(checkout.cwd), GitRepo.discover(checkout.root) as worktree, _stdout_to_stderr():
        recorder, snapshot = start_run(
            worktree,
            command=command,
            config=config,
            source="cli",
            name=name or f"{original.info.name}-rerun",
            tags=original.info.tags,
            group=original.info.group,
            include=include,
            cli_fields=("name",),
            warn=lambda message: say(f"warning: {message}"),
            rerun_of=original.info.id,
        )
        supervise(recorder, command, config, snapshot.skipped, say)
        return recorder.info.id


def _ask_secret(variable: str, what: str) -> str | None:
    """A redacted value, asked on the terminal (never echoed); None without a terminal."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    import getpass

    try:
        return getpass.getpass(f"{what} was redacted; its value ({variable}): ", sys.stderr)
    except (EOFError, KeyboardInterrupt):
        return None


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The command's output goes to stderr, so stdout carries only the verdict."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _as_json(
    original: RunView, rerun: RunView, result: verdictmod.Verdict, args: argparse.Namespace
) -> dict[str, Any]:
    def run(view: RunView) -> dict[str, Any]:
        info = view.info
        return {
            "id": info.id,
            "name": info.name,
            "status": info.status,
            "exit_code": info.exit_code,
        }

    return {
        "verdict": result.verdict,
        "original": run(original),
        "rerun": {**run(rerun), "rerun_of": rerun.info.rerun_of},
        "rtol": args.rtol,
        "atol": args.atol,
        "include_timing": args.include_timing,
        "metrics": result.metrics,
        "differing": [m["key"] for m in result.differing],
        "excluded": result.excluded,
        "explain": result.explain,
    }


def render(
    original: RunView, rerun: RunView, result: verdictmod.Verdict, args: argparse.Namespace
) -> str:
    o, r = original.info, rerun.info
    tolerance = (
        "exact comparison"
        if not (args.rtol or args.atol)
        else f"rtol={args.rtol:g}, atol={args.atol:g}"
    )
    lines = [
        f"original  {short_id(o.id)}  {o.name}  ({o.status})",
        f"rerun     {short_id(r.id)}  {r.name}  ({r.status}"
        + (f", exit code {r.exit_code}" if r.exit_code else "")
        + ")",
        "",
        f"verdict: {result.verdict} ({tolerance}, {len(result.metrics)} metrics compared)",
    ]
    if result.differing:
        rows = [
            [
                m["key"],
                fmt_value(m["original"]),
                fmt_value(m["rerun"]),
                f"{m['delta']:+.6g}" if "delta" in m else "",
                m["status"],
            ]
            for m in result.differing
        ]
        lines += ["", "metrics that differ"]
        lines += _indent(table(rows, ["key", "original", "rerun", "delta", "result"]))
    if result.excluded:
        lines += [
            "",
            "not compared: "
            + ", ".join(result.excluded)
            + ("" if args.include_timing else " (timing; compare with --include-timing)"),
        ]
    lines += ["", "what may explain a difference"]
    lines += explain_lines(result.explain) or [
        "  nothing: same config, code, packages, hardware, baseline and inputs"
    ]
    return "\n".join(lines)


def explain_lines(explain: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    config = explain.get("config")
    if config:
        for key, (a, b) in config["changed"].items():
            lines.append(f"  config    {key}: {fmt_value(a)} -> {fmt_value(b)}")
        for key, value in config["added"].items():
            lines.append(f"  config    {key}: added {fmt_value(value)}")
        for key, value in config["removed"].items():
            lines.append(f"  config    {key}: removed (was {fmt_value(value)})")
    for item in explain.get("code") or []:
        lines.append(f"  code      {item['change']} {item['path']}")
    packages = explain.get("packages")
    if packages:
        for name, (a, b) in packages["changed"].items():
            lines.append(f"  package   {name} {a} -> {b}")
        for name, version in packages["added"].items():
            lines.append(f"  package   {name} {version} added")
        for name, version in packages["removed"].items():
            lines.append(f"  package   {name} {version} removed")
    if explain.get("packages_unknown"):
        lines.append(f"  packages  unknown: {explain['packages_unknown']}")
    for item in explain.get("hardware") or []:
        lines.append(
            f"  machine   {item['field']}: {fmt_value(item['original'])} -> "
            f"{fmt_value(item['rerun'])}"
        )
    baseline = explain.get("baseline")
    if baseline:
        lines.append(f"  baseline  {baseline['original']} -> {baseline['rerun']}")
    changed = explain.get("inputs")
    if changed:
        lines += _input_lines(changed)
    if explain.get("inputs_unknown"):
        lines.append(f"  inputs    unknown: {explain['inputs_unknown']}")
    return lines


def _input_lines(changed: dict[str, Any], limit: int = 5) -> list[str]:
    lines = [
        f"  input     {item['path']}: size {item['size'][0]} -> {item['size'][1]}"
        for item in changed["modified"][:limit]
    ]
    lines += [f"  input     {path}: new since the original" for path in changed["added"][:limit]]
    lines += [f"  input     {path}: gone since the original" for path in changed["removed"][:limit]]
    touched = changed["touched"]
    if touched:
        shown = ", ".join(touched[:limit]) + (
            f" and {len(touched) - limit} more" if len(touched) > limit else ""
        )
        lines.append(f"  input     same size, new modification time: {shown}")
    hidden = sum(max(0, len(changed[k]) - limit) for k in ("modified", "added", "removed"))
    if hidden:
        lines.append(f"  input     ... and {hidden} more changes (see --json)")
    if changed.get("truncated"):
        lines.append("  input     (a fingerprint was truncated: changes beyond it are unknown)")
    return lines


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]
