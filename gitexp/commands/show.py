"""``gitexp show RUN``: one run in full."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, cast

from gitexp.artifacts.catalog import Catalog
from gitexp.cli_support import add_example, open_repo, print_json
from gitexp.model import config as configmod
from gitexp.model.ids import short_id
from gitexp.model.lineage import LINEAGE_FILE
from gitexp.read.resolve import find_run
from gitexp.read.runview import RunView, load_run
from gitexp.record import manifest
from gitexp.render import overrides as overrides_words
from gitexp.render.cells import fmt_duration, fmt_time, fmt_value, printable, table
from gitexp.render.runs_table import config_cell

if TYPE_CHECKING:
    from gitexp.cli_support import Subparsers
    from gitexp.git.repo import GitRepo
    from gitexp.model.record import RunInfo
    from gitexp.model.shapes import ListingRow

MAX_FILES_LISTED = 50
MAX_ALERTS_LISTED = 10


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="show one run: config, metrics, command, environment, changed files",
        description="Show a run: its status and command, config, summary metrics, "
        "hardware and software, the files that differ from its baseline commit, the files "
        "left out of its snapshot, its note and tags.",
    )
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, name, latest or latest~N")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    add_example(parser, "gitexp show latest", "gitexp show 3kq9x2a --json")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    with open_repo() as repo:
        entry = find_run(repo, args.run)
        view = load_run(repo, entry)
        baseline = view.info.baseline.encode() if view.info.baseline else None
        base_tree = (
            repo.commit_info(baseline)[0] if baseline and repo.has_object(baseline) else None
        )
        # An imported run has no code: against its baseline every file would read deleted.
        changes = [] if view.info.imported else repo.diff_trees(base_tree, view.root_tree)
        lineage = run_lineage(repo, view)
        alerts = run_alerts(repo, view)
    files = [{"path": c.path, "change": c.kind} for c in changes]
    if args.json:
        print_json(
            {
                "run": _info_json(view),
                "config": view.config,
                "metrics": view.metrics,
                "hardware": view.hardware,
                "packages": view.packages,
                "snapshot": view.snapshot,
                "media": view.media,
                "changed_files": files,
                "lineage": lineage,
                "alerts": alerts,
            }
        )
        return 0
    print(render(view, files) + lineage_text(lineage) + alerts_text(alerts))
    return 0


def run_lineage(repo: GitRepo, view: RunView) -> dict[str, list[dict[str, object]]]:
    """The run's artifact inputs and outputs (none read when it has no lineage.json)."""
    if repo.lookup_path(view.meta_tree, LINEAGE_FILE.encode()) is None:
        return {"inputs": [], "outputs": []}
    return Catalog(repo).run_lineage(view.entry.id)


def run_alerts(repo: GitRepo, view: RunView) -> list[dict[str, object]]:
    """The run's alerts (``.gitexp/alerts.jsonl``, 0.3); lines that do not parse skipped."""
    from gitexp.model import values

    found = repo.lookup_path(view.meta_tree, b"alerts.jsonl")
    if found is None:
        return []
    out = []
    for line in repo.read_blob(found[1]).decode("utf-8", "replace").splitlines():
        try:
            item = values.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def alerts_text(alerts: list[dict[str, object]]) -> str:
    if not alerts:
        return ""
    lines = ["", f"alerts ({len(alerts)})"]
    for item in alerts[-MAX_ALERTS_LISTED:]:
        lines.append(
            f"  {fmt_time(item.get('time'))}  step {item.get('step')}  [{item.get('level')}] "
            f"{item.get('title')}: {item.get('text')}"
        )
    if len(alerts) > MAX_ALERTS_LISTED:
        lines.append(f"  (the last {MAX_ALERTS_LISTED}; --json has all)")
    return "\n".join(printable(line) for line in lines)


def lineage_text(lineage: dict[str, list[dict[str, object]]]) -> str:
    lines = []
    for key, title, other in (
        ("inputs", "artifacts used", "logged by"),
        ("outputs", "artifacts logged", "used by"),
    ):
        if lineage[key]:
            lines += ["", title]
        for item in lineage[key]:
            runs = cast("list[object]", item.get("logged_by" if key == "inputs" else "used_by"))
            ids = ", ".join(short_id(str(run)) for run in runs or [] if run) or "no run here"
            aliases = cast("list[object]", item.get("aliases") or [])
            shown = f" ({', '.join(str(a) for a in aliases)})" if aliases else ""
            lines.append(
                f"  {item['name']}:{item['version'] or '?'}{shown}  {str(item['digest'])[:12]}"
                f"  {other} {ids}"
            )
    return "\n".join(printable(line) for line in lines)


def _info_json(view: RunView) -> dict[str, object]:
    from gitexp.model import values

    data: dict[str, object] = values.loads(view.info.to_json())
    data["commit"] = view.entry.commit.decode()
    return data


def _no_baseline(info: RunInfo) -> str:
    if info.imported:
        recorded = info.imported.get("commit")
        return f"(none: the source recorded {recorded}, not here)" if recorded else "(none)"
    return "(none: no commits yet)"


def render(view: RunView, files: list[dict[str, str]]) -> str:
    info = view.info
    lines = [
        f"run       {info.id}  {info.name}",
        f"status    {info.status}"
        + (f" (exit code {info.exit_code})" if info.exit_code is not None else "")
        + (f" ({info.signal})" if info.signal else ""),
        f"command   {' '.join(info.command)}" + (f"   (in {info.cwd}/)" if info.cwd else ""),
        *([f"          from {' '.join(info.command_template)}"] if info.command_template else []),
        f"started   {fmt_time(info.start)}   duration {fmt_duration(info.duration)}",
        f"baseline  {info.baseline or _no_baseline(info)}"
        + (f" on {info.branch}" if info.branch else " (detached HEAD)" if info.baseline else "")
        + ("  + uncommitted changes" if info.dirty else ""),
        f"ref       refs/gitexp/runs/{info.id}",
    ]
    if info.tags:
        lines.append(f"tags      {', '.join(info.tags)}")
    if info.group:
        lines.append(f"group     {info.group}")
    if info.notes:  # each line of a note on a line of its own (printable escapes "\n")
        first, *rest = info.notes.split("\n")
        lines.append(f"note      {first}")
        lines += [f"          {line}" for line in rest]
    lines.append(f"machine   {manifest.summarize(view.hardware) if view.hardware else 'unknown'}")
    flat = configmod.flatten_config(view.config)
    doubtful = {
        path: str(entry.get("status"))
        for path, entry in info.overrides.items()
        if isinstance(entry, dict)
    }
    lines += ["", "config"]
    marked = cast("ListingRow", {"config": flat, "unapplied": doubtful})
    lines += [f"  {k} = {config_cell(marked, k)}" for k in flat]
    lines += [] if flat else ["  (none)"]
    told = overrides_words.problems(info.overrides)
    if told:
        lines += ["", "overrides the script did not take (! not applied, ? unverified)"]
        lines += [f"  {text}" for text in told]
    lines += ["", "metrics"]
    stats = view.metrics.get("metrics") or {}
    media = view.media
    media_keys = {item["key"] for item in media}
    summary = {k: v for k, v in view.summary.items() if k not in media_keys}
    if summary:
        body = []
        for key, value in summary.items():
            s = stats.get(key) or {}
            body.append(
                [
                    key,
                    fmt_value(value),
                    fmt_value(s.get("min")),
                    fmt_value(s.get("max")),
                    s.get("last_step", ""),
                ]
            )
        lines += [
            "  " + row for row in table(body, ["key", "summary", "min", "max", "step"]).splitlines()
        ]
    else:
        lines.append("  (none logged)")
    if media:
        lines += ["", "media (files under .gitexp/media/ of the run)"]
        rows = [
            [fmt_value(m[name]) for name in ("key", "type", "count", "last_step")] for m in media
        ]
        lines += [
            f"  {row}" for row in table(rows, ["key", "type", "count", "last step"]).splitlines()
        ]
    if info.imported:
        origin = info.imported
        lines += ["", f"imported from {origin.get('from')}, run {origin.get('id')}"]
        where = origin.get("path")
        lines.append(f"  read from {where}; no code (restore, rerun and branch refuse it)")
        return "\n".join(printable(line) for line in lines)
    lines += ["", f"files changed against the baseline ({len(files)})"]
    mark = {"add": "A", "delete": "D", "modify": "M"}
    lines += [f"  {mark[f['change']]} {f['path']}" for f in files[:MAX_FILES_LISTED]]
    if len(files) > MAX_FILES_LISTED:
        lines.append(f"  ... and {len(files) - MAX_FILES_LISTED} more (see --json)")
    skipped = view.skipped
    if skipped:
        lines += ["", "left out of the snapshot"]
        for item in skipped:
            size = f", {item['size']} bytes" if item.get("size") is not None else ""
            md5 = f", md5 {item['md5']}" if item.get("md5") else ""
            lines.append(f"  {item['path']} ({item['reason']}{size}{md5})")
        if any(item.get("reason") == "binary" for item in skipped):
            lines.append(
                "  (a binary file is kept with `gitexp run --out PATH` as an artifact, "
                "or with --include PATH as code)"
            )
    # Every value here came from the run, which anyone may have written: no control
    # character of it reaches the terminal, nor a newline of a file's name (one line each).
    return "\n".join(printable(line) for line in lines)
