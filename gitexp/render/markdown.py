"""``gitexp report -o FILE.md``: the report as markdown, with its charts as PNG files.

The images go to a folder next to the file (``report.md`` -> ``report_files/``), linked
relatively, so the pair can be committed, attached or rendered by any markdown viewer.
The text comes from the same bundle as the HTML report, so both say the same.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from gitexp.render import series as seriesmod
from gitexp.render import staticplot
from gitexp.render.bundle import RunData
from gitexp.render.cells import fmt_duration, fmt_time, fmt_value, printable, printable_lines
from gitexp.render.charts import mdpanels
from gitexp.render.words import plural

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle
    from gitexp.render.charts.panels import Drawn


# What a markdown viewer reads as markup in a line of text: HTML (``<img onerror=...>``,
# an ``&`` entity), links and images, emphasis, code spans, table cells, headings.
_MARKUP = re.compile(r"([\\`*_\[\]()|~#!<>&])")


def _text(value: object) -> str:
    """Run data (a name, a tag, a metric's key) as literal markdown text on one line:
    control characters shown as escapes, every markup character escaped."""
    return _MARKUP.sub(r"\\\1", printable(str(value)))


def _cell(value: object) -> str:
    """A value for a markdown table cell, as the terminal shows it, literally."""
    return _text(fmt_value(value))


def _code(text: str) -> str:
    """``text`` as an inline code span: literal inside, fenced by more backticks than it
    holds in a row (and spaced when it starts or ends with one), so it cannot close it."""
    text = printable(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(code: str) -> str:
    """A code fence longer than any run of backticks in ``code``: it cannot be closed early."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    from tabulate import tabulate

    text = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return text.splitlines()


def _file_name(metric: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", metric).strip("._") or "metric"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name + ".png"


def write(path: str, bundle: Bundle, runs: list[RunData], drawn: Drawn | None = None) -> list[str]:
    """Write the markdown report and its images; returns the image paths.  ``drawn``:
    the specs of the across-run panels (grouped curves, parallel coordinates, ...)."""
    folder = os.path.splitext(path)[0] + "_files"
    link_dir = os.path.basename(folder)
    os.makedirs(folder, exist_ok=True)
    names = {r["id"]: r["name"] for r in bundle["runs"]}
    colors = {r["id"]: r["color"] for r in bundle["runs"]}
    images: list[str] = []
    used: set[str] = set()
    out = [
        f"# {_text(bundle['title'])}",
        "",
        f"{plural(len(bundle['runs']), 'run')} of repository `{bundle['repository']}`, "
        f"generated {fmt_time(bundle['generated'])} by gitexp {bundle['gitexp_version']}.",
        "",
    ]
    if bundle.get("intro"):  # the author's own markdown, as written
        out += [bundle.get("intro", "").rstrip(), ""]
    out += ["## Runs", ""]
    out += _table(
        ["name", "id", "status", "started", "duration", "tags", "command"],
        [
            [
                _cell(r["name"]),
                f"`{r['short']}`",
                _cell(r["status"]),
                fmt_time(r["start"]),
                fmt_duration(r["duration"]),
                _cell(r["tags"]),
                _cell(r["command"]),
            ]
            for r in bundle["runs"]
        ],
    )
    out += ["", "## Metrics", ""]
    for metric in bundle["scalars"]:
        curves = [
            staticplot.Curve(names[d.view.info.id], colors[d.view.info.id], d.scalars[metric])
            for d in runs
            if metric in d.scalars
        ]
        image = os.path.join(folder, _file_name(metric, used))
        staticplot.save_curves(image, [(metric, curves)])
        images.append(image)
        out += [f"![{_text(metric)}]({link_dir}/{os.path.basename(image)})", ""]
    if not bundle["scalars"]:
        out += ["No metrics logged by these runs.", ""]
    if drawn is not None:
        out += mdpanels.section(bundle, drawn, folder, link_dir, images)
    out += _media_section(runs)
    out += _histogram_section(bundle, runs, folder, link_dir, used, images)
    out += _compare_section(bundle)
    out += _code_section(bundle)
    out += _environment_section(bundle)
    out += _notes_section(bundle)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out).rstrip() + "\n")
    return images


def _media_section(runs: list[RunData]) -> list[str]:
    """A line per run and media key with its counts: the markdown report embeds no media
    (the HTML report and the ui draw them)."""
    lines: list[str] = []
    for d in runs:
        for key, logged in d.media.items():
            last = logged[-1][1]  # a reference or a list of them (collect checked)
            first = last[0] if isinstance(last, list) else last
            ref = first if isinstance(first, dict) else {}
            kind = ref.get("chart") if ref.get("_type") == "chart" else ref.get("_type")
            files = sum(len(v) if isinstance(v, list) else 1 for _, v in logged)
            steps = f"steps {logged[0][0]}–{logged[-1][0]}"
            lines.append(
                f"- {_cell(d.view.info.name)} · {_code(key)} ({_text(str(kind))}): "
                f"{plural(files, 'file')} at {plural(len(logged), 'step')} ({steps})"
            )
    if not lines:
        return []
    return ["## Media", "", *lines, "", "The HTML report (`.html`) draws them.", ""]


def _histogram_section(
    bundle: Bundle,
    runs: list[RunData],
    folder: str,
    link_dir: str,
    used: set[str],
    images: list[str],
) -> list[str]:
    if not bundle["histograms"]:
        return []
    names = {r["id"]: r["name"] for r in bundle["runs"]}
    colors = {r["id"]: r["color"] for r in bundle["runs"]}
    out = ["## Histograms over steps", ""]
    for hist in bundle["histograms"]:
        metric = hist["metric"]
        panels = []
        for data in runs:
            run_id = data.view.info.id
            if metric in data.histograms:
                steps, grid = seriesmod.regrid(data.histograms[metric], hist["low"], hist["high"])
                panels.append(staticplot.HeatmapPanel(names[run_id], colors[run_id], steps, grid))
        image = os.path.join(folder, "hist-" + _file_name(metric, used))
        staticplot.save_histograms(image, metric, panels, hist["low"], hist["high"])
        images.append(image)
        out += [f"![{_text(metric)}]({link_dir}/{os.path.basename(image)})", ""]
    return out


def _compare_section(bundle: Bundle) -> list[str]:
    out = ["## Config and metrics that differ", ""]
    rows = bundle.get("compare") or []
    headers = [""] + [_cell(r["name"]) for r in bundle["runs"]]
    body = []
    for row in rows:
        goal = {"minimize": " (lower is better)", "maximize": " (higher is better)"}.get(
            row.get("goal") or "", ""
        )
        cells = []
        for i, value in enumerate(row["values"]):
            text = fmt_duration(value) if row["key"] == "duration" else _cell(value)
            cells.append(f"**{text}** ★" if i in row["best"] else text)
        body.append([_text(f"{row['section']}.{row['key']}") + goal, *cells])
    out += _table(headers, body)
    return [*out, ""]


def _code_section(bundle: Bundle) -> list[str]:
    pairs = bundle.get("code") or []
    if not pairs:
        return []
    names = {r["id"]: r["name"] for r in bundle["runs"]}
    out = ["## Code differences", ""]
    for pair in pairs:
        files = pair["files"]
        out += [f"### {_text(names[pair['a']])} → {_text(names[pair['b']])}", ""]
        if not files:
            out += ["Same code.", ""]
            continue
        patch = printable_lines(pair["patch"].rstrip("\n"))
        fence = _fence(patch)
        out += [fence + "diff", patch, fence, ""]
        if pair["truncated"]:
            out += ["(diff cut short; see `gitexp diff --code`)", ""]
    return out


def _environment_section(bundle: Bundle) -> list[str]:
    env = bundle.get("environment")
    machines = {m["id"]: m for m in (env["machines"] if env else [])}
    runs = bundle["runs"]
    headers = [""] + [_cell(r["name"]) for r in runs]
    fields = [("machine", "machine"), ("os", "OS"), ("python", "Python"), ("hostname", "host")]
    unknown: dict[str, object] = {}  # a run the environment section does not list
    body = [
        [label, *[_cell(machines.get(r["id"], unknown).get(key)) for r in runs]]
        for key, label in fields
    ]
    out = ["## Hardware and software", "", *_table(headers, body), ""]
    packages = env["packages"] if env else []
    if packages:
        out += ["Packages that differ:", ""]
        out += _table(
            ["package", *headers[1:]],
            [[_cell(p["name"]), *[_cell(v) for v in p["versions"]]] for p in packages],
        )
        out.append("")
    return out


def _notes_section(bundle: Bundle) -> list[str]:
    out = ["## Notes and tags", ""]
    noted = [r for r in bundle["runs"] if r.get("notes") or r.get("tags")]
    for run in noted:
        tags = " ".join(_code(str(t)) for t in run.get("tags") or [])
        out += [f"- **{_text(run['name'])}** {tags}".rstrip()]
        if run.get("notes"):  # a note keeps its lines; each is literal text
            lines = printable_lines(str(run["notes"])).split("\n")
            out += ["  " + _MARKUP.sub(r"\\\1", line) for line in lines]
    if not noted:
        out.append("No notes or tags.")
    return [*out, ""]
