"""``gitexp diff RUN_A RUN_B``: what changed between two runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gitexp.cli_support import add_example, open_repo, print_json
from gitexp.model.ids import short_id
from gitexp.read.diff import compare_runs, unified_code_diff
from gitexp.read.resolve import find_run
from gitexp.read.runview import load_run
from gitexp.render.cells import fmt_value, printable_lines, table
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.read.diff import RunsDiff


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs: config, metrics, code, environment",
        description="Compare two runs: config keys added, removed and changed; summary "
        "metrics with both values and the delta (B - A); the code as a diffstat (--code for "
        "the full diff); packages and hardware that differ.",
    )
    parser.add_argument("run_a", metavar="RUN_A")
    parser.add_argument("run_b", metavar="RUN_B")
    parser.add_argument("--code", action="store_true", help="print the full unified code diff")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_example(parser, "gitexp diff latest~1 latest", "gitexp diff bold-orbit-84 3kq9x2a --code")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        a = load_run(repo, find_run(repo, args.run_a))
        b = load_run(repo, find_run(repo, args.run_b))
        result = compare_runs(repo, a, b)
        compared = args.code and "code_not_recorded" not in result
        patch = unified_code_diff(repo, a.root_tree, b.root_tree, "a", "b") if compared else ""
    if args.json:
        if args.code:
            result["code_diff"] = patch
        print_json(result)
        return 0
    # Names, paths, packages and the code itself come from the runs' recorders.
    print(printable_lines(render(result)))
    if args.code and patch:
        print()
        print(printable_lines(patch), end="")
    return 0


def render(result: RunsDiff) -> str:
    a, b = result["a"], result["b"]
    lines = [
        f"A: {short_id(a['id'])} {a['name']}",
        f"B: {short_id(b['id'])} {b['name']}",
        "",
        "config",
    ]
    config = result["config"]
    rows = [[k, "", fmt_value(v), "added"] for k, v in config["added"].items()]
    rows += [[k, fmt_value(v), "", "removed"] for k, v in config["removed"].items()]
    rows += [
        [k, fmt_value(va), fmt_value(vb), "changed"] for k, (va, vb) in config["changed"].items()
    ]
    lines += _indent(table(rows, ["key", "A", "B", ""])) if rows else ["  (same)"]
    lines += ["", "metrics"]
    metrics = [
        [
            m["key"],
            fmt_value(m["a"]),
            fmt_value(m["b"]),
            (f"{m['delta']:+.6g}" if "delta" in m else ""),
        ]
        for m in result["metrics"]
    ]
    lines += _indent(table(metrics, ["key", "A", "B", "B - A"])) if metrics else ["  (none)"]
    code = result["code"]
    missing = result.get("code_not_recorded")
    if missing:
        runs = {"a": result["a"], "b": result["b"]}
        names = " and ".join(runs[label]["name"] for label in missing)
        lines += ["", f"code (not compared: {names} imported from another tracker, no code)"]
    else:
        lines += ["", f"code ({plural(len(code), 'file')} changed)"]
    for item in code:
        if item.get("binary"):
            lines.append(f"  {item['path']} | binary ({item['change']})")
        else:
            lines.append(f"  {item['path']} | +{item['added']} -{item['removed']}")
    env = result["environment"]
    packages = env["packages"]
    changes = (
        [f"  + {k}=={v}" for k, v in packages["added"].items()]
        + [f"  - {k}=={v}" for k, v in packages["removed"].items()]
        + [f"  ~ {k} {old} -> {new}" for k, (old, new) in packages["changed"].items()]
    )
    lines += ["", "packages"] + (changes or ["  (same)"])
    hardware = [
        f"  {h['field']}: {fmt_value(h['a'])} -> {fmt_value(h['b'])}" for h in env["hardware"]
    ]
    baseline = env.get("baseline")
    if baseline:
        hardware.insert(0, f"  baseline: {baseline['a']} -> {baseline['b']}")
    lines += ["", "environment"] + (hardware or ["  (same)"])
    return "\n".join(lines)


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]
