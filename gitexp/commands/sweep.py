"""``gitexp sweep``: run a command once per combination of parameter values.

Each combination is one ``gitexp run --group G --name PREFIX-... -p key=value ... -- CMD``
(a process of its own), up to ``-j`` at once.  Started again, a sweep skips the
combinations its group already holds as finished (or running) runs.  At the end it
prints the group's runs sorted by a metric.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

from gitexp.cli_progress import bars_wanted, meter
from gitexp.cli_support import add_example, fmt_duration, fmt_value, open_repo, say, table
from gitexp.errors import UsageError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.model.ids import SHORT_ID_LENGTH
from gitexp.model.record import FINISHED, RUNNING
from gitexp.read import compare as comparison
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.runview import load_run
from gitexp.render.words import plural
from gitexp.sweep import space as sweepmod

EXIT_SOME_FAILED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a command once per combination of parameter values",
        description=textwrap.fill(
            "Record CMD once per combination of the parameter values (the grid, or --random N "
            "of it), each as a `gitexp run` in one group, up to -j at once; then print the "
            "group's runs sorted by a metric. Started again, it skips the combinations that "
            "already finished. Values: -p key=v1,v2,... (typed as gitexp run -p) or a YAML "
            "sweep file with lists and ranges (see docs/workflow.md).",
            88,
        ),
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a parameter and its values, comma separated; repeatable",
    )
    parser.add_argument("--file", metavar="FILE", help="a YAML sweep file (parameters, command)")
    parser.add_argument(
        "--random", type=int, metavar="N", help="run N combinations drawn at random"
    )
    parser.add_argument(
        "--seed",
        metavar="S",
        help="seed of --random (default: the group, so a restart draws the same)",
    )
    parser.add_argument(
        "-j", "--parallel", type=int, default=1, metavar="N", help="runs at once (default 1)"
    )
    parser.add_argument("--name", metavar="PREFIX", help="name runs PREFIX-key=value-...")
    parser.add_argument(
        "--group", metavar="G", help="the runs' group (default: PREFIX, else derived)"
    )
    parser.add_argument(
        "--sort",
        metavar="METRIC",
        help="order the final table by METRIC (best first; -METRIC descending, +METRIC ascending)",
    )
    parser.add_argument("--config", metavar="FILE", help="a config file passed to every run")
    parser.add_argument("--tag", action="append", default=[], help="a tag of every run")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the combinations and run nothing"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    add_example(
        parser,
        "gitexp sweep -p lr=0.1,0.01,0.001 -p batch=32,64 -j 2 --name lr -- python train.py",
        "gitexp sweep --file sweep.yaml --random 20 -j 4 --sort val/acc",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    sweep_file = sweepmod.load_file(args.file) if args.file else None
    params = sweepmod.merge(
        sweep_file.parameters if sweep_file else [], [sweepmod.parse_cli(t) for t in args.param]
    )
    command = command or (sweep_file.command if sweep_file and sweep_file.command else [])
    if not command:
        raise UsageError(
            "missing the command to run after --",
            "Example: gitexp sweep -p lr=0.1,0.01 -- python train.py",
        )
    if not params:
        raise UsageError("no parameters to sweep", "Give -p key=v1,v2 or --file sweep.yaml.")
    if args.parallel < 1 or (args.random is not None and args.random < 1):
        raise UsageError("-j and --random take a number of at least 1")
    if args.config:
        configmod.load_config_file(args.config)  # a bad file fails now, not in every run
    prefix = args.name or (sweep_file.name if sweep_file else None)
    group = (
        args.group
        or (sweep_file.group if sweep_file else None)
        or prefix
        or sweepmod.default_group(command, params)
    )
    prefix = prefix or group
    combos = sweepmod.combinations(params, args.random, args.seed or group)
    varying = [p.key for p in params if p.continuous or len(p.choices) > 1]
    with open_repo() as repo:
        done = _done(repo, group, combos)
    todo = [(i, combo) for i, combo in enumerate(combos) if i not in done]
    say(
        f"sweep {group}: {len(combos)} combinations, {len(done)} done already, "
        f"{len(todo)} to run{f' ({args.parallel} at a time)' if todo else ''}"
    )
    if args.dry_run:
        rows = [
            [sweepmod.member_name(prefix, combo, varying, i), done.get(i, "to run")]
            for i, combo in enumerate(combos)
        ]
        print(table(rows, ["name", "state"]))
        return 0
    extra = [*(["--config", args.config] if args.config else [])]
    for tag in args.tag:
        extra += ["--tag", tag]
    codes = _run_members(
        [
            (
                sweepmod.member_name(prefix, combo, varying, i),
                [
                    *(sys.executable, "-m", "gitexp", "run", "--group", group),
                    *("--name", sweepmod.member_name(prefix, combo, varying, i)),
                    *extra,
                    *(arg for key, choice in combo for arg in ("-p", f"{key}={choice.text}")),
                    "--",
                    *command,
                ],
            )
            for i, combo in todo
        ],
        args.parallel,
        bars_wanted(),
    )
    with GitRepo.discover() as repo:
        print(_final_table(repo, group, varying, args.sort))
    failed = sum(1 for code in codes if code != 0)
    if failed:
        say(
            f"{failed} of {plural(len(codes), 'run')} failed; "
            "run the same sweep again to retry them"
        )
        return EXIT_SOME_FAILED
    return 0


def _group_runs(repo: GitRepo, group: str) -> list[RunEntry]:
    return [entry for entry in list_runs(repo) if entry.row.get("group") == group]


def _done(repo: GitRepo, group: str, combos: list[sweepmod.Combination]) -> dict[int, str]:
    """Indices of the combinations the group already holds as finished or running runs."""
    configs: list[tuple[str, dict[str, Any]]] = []
    needs_full = not all(sweepmod.scalar_only(combo) for combo in combos)
    for entry in _group_runs(repo, group):
        if entry.status not in (FINISHED, RUNNING):
            continue
        config = entry.row.get("config") or {}
        if needs_full or entry.row.get("truncated"):
            config = load_run(repo, entry).config
        configs.append((entry.status, config))
    done: dict[int, str] = {}
    for index, combo in enumerate(combos):
        for status, config in configs:
            if sweepmod.matches(config, combo):
                done[index] = status
                break
    return done


def _run_members(
    members: list[tuple[str, list[str]]], parallel: int, show_progress: bool = False
) -> list[int]:
    """Run the ``gitexp run`` processes, ``parallel`` at once; their exit codes.

    ``show_progress``: after each run, a progress line with the time left (on a terminal).
    """
    from gitexp.record.supervise import terminal_foreground

    pending = list(members)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    codes: list[int] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        for _name, process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    total, started = len(members), 0
    began = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < parallel and not stopping:
                name, argv = pending.pop(0)
                started += 1
                say(f"sweep [{started}/{total}] {name}")
                running.append((name, subprocess.Popen(argv)))
            time.sleep(0.05)
            for item in list(running):
                code = item[1].poll()
                if code is not None:
                    running.remove(item)
                    codes.append(code)
                    if code != 0:
                        say(f"sweep: {item[0]} exited with {code}")
                    if show_progress:
                        elapsed = time.monotonic() - began
                        say(f"sweep {meter(len(codes), total, elapsed)} {item[0]} done")
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reached every run already (same process group).
        if not terminal_foreground():
            forward(signal.SIGINT, None)
        for _name, process in running:
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stopping:
        raise KeyboardInterrupt
    return codes


def _final_table(repo: GitRepo, group: str, varying: list[str], sort: str | None) -> str:
    entries = _group_runs(repo, group)
    views = [load_run(repo, entry) for entry in entries if entry.status == FINISHED]
    defs = comparison.declared_definitions(views)
    metric, descending = _sort_metric(entries, defs, sort)

    def value(entry: RunEntry) -> Any:
        stats = (entry.row.get("metrics") or {}).get(metric) if metric else None
        return stats.get("last") if isinstance(stats, dict) else None

    def order(entry: RunEntry) -> tuple[int, float, str]:
        number = value(entry)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or number != number:
            return (1, 0.0, entry.name)
        return (0, -float(number) if descending else float(number), entry.name)

    entries.sort(key=order)
    label = f"{metric} [{'max' if descending else 'min'}]" if metric else None
    headers = ["name", "id", "status", "duration", *varying, *([label] if label else [])]
    rows = []
    for entry in entries:
        config = entry.row.get("config") or {}
        start, end = entry.row.get("start"), entry.row.get("end")
        duration = end - start if isinstance(end, (int, float)) and start is not None else None
        row = [entry.name, entry.id[:SHORT_ID_LENGTH], entry.status, fmt_duration(duration)]
        row += [fmt_value(config.get(key)) for key in varying]
        if label:
            row.append(fmt_value(value(entry)))
        rows.append(row)
    return table(rows, headers)


def _sort_metric(
    entries: list[RunEntry], defs: dict[str, dict[str, Any]], sort: str | None
) -> tuple[str | None, bool]:
    """The metric to sort by and whether higher is better."""
    if sort:
        key = sort.lstrip("+-")
        if sort.startswith(("-", "+")):
            return key, sort.startswith("-")
        goal, _source = comparison.goal_of(key, defs)
        return key, goal == comparison.MAXIMIZE
    keys: list[str] = []
    for entry in entries:
        for key, stats in (entry.row.get("metrics") or {}).items():
            last = stats.get("last") if isinstance(stats, dict) else None
            if key not in keys and isinstance(last, (int, float)) and not isinstance(last, bool):
                keys.append(key)
    for key in keys:
        goal, _source = comparison.goal_of(key, defs)
        if goal is not None:
            return key, goal == comparison.MAXIMIZE
    return (keys[0], False) if keys else (None, False)
