"""The rerun verdict as text: the two runs, the verdict, what differs, what may explain it."""

from __future__ import annotations

from typing import Any

from gitexp.model.ids import short_id
from gitexp.read.runview import RunView
from gitexp.render.cells import fmt_value, table
from gitexp.render.words import plural
from gitexp.reproduce import verdict as verdictmod


def render_verdict(
    original: RunView,
    rerun: RunView,
    result: verdictmod.Verdict,
    rtol: float,
    atol: float,
    include_timing: bool,
) -> str:
    """``gitexp rerun``'s report: both runs, the verdict, what differs and what may explain it."""
    o, r = original.info, rerun.info
    tolerance = "exact comparison" if not (rtol or atol) else f"rtol={rtol:g}, atol={atol:g}"
    lines = [
        f"original  {short_id(o.id)}  {o.name}  ({o.status})",
        f"rerun     {short_id(r.id)}  {r.name}  ({r.status}"
        + (f", exit code {r.exit_code}" if r.exit_code else "")
        + ")",
        "",
        f"verdict: {result.verdict} ({tolerance}, "
        f"{plural(len(result.metrics), 'metric')} compared)",
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
            + ("" if include_timing else " (timing; compare with --include-timing)"),
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
