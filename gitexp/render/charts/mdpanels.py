"""The across-run panels in the markdown report: images beside the file, tables inline."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from gitexp.render.cells import fmt_value, printable
from gitexp.render.charts import mplfig, parallel

if TYPE_CHECKING:
    from gitexp.render.bundle import Bundle
    from gitexp.render.charts.panels import Drawn

_MARKUP = re.compile(r"([\\`*_\[\]()|~#!<>&])")


def _text(value: object) -> str:
    return _MARKUP.sub(r"\\\1", printable(str(value)))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def section(bundle: Bundle, drawn: Drawn, folder: str, link: str, images: list[str]) -> list[str]:
    out: list[str] = []
    names = {r["id"]: r["name"] for r in bundle.get("runs", [])}
    for title, charts, name in (
        ("Groups of runs (mean and band)", drawn.groups, "groups.png"),
        ("System metrics", drawn.system, "system.png"),
    ):
        if charts:
            image = os.path.join(folder, name)
            mplfig.save(image, charts)
            images.append(image)
            out += [f"## {title}", "", f"![{title}]({link}/{name})", ""]
    if drawn.parallel is not None:
        image = os.path.join(folder, "parallel.svg")
        with open(image, "w", encoding="utf-8") as handle:
            handle.write(parallel.svg(drawn.parallel))
        images.append(image)
        out += ["## Parallel coordinates", "", f"![Parallel coordinates]({link}/parallel.svg)", ""]
    found = bundle.get("importance")
    rows = found.get("rows") if isinstance(found, dict) else None
    if isinstance(found, dict) and isinstance(rows, list):
        out += [
            "## Parameter importance",
            "",
            f"For {_text(found.get('metric'))} (summary value):",
            "",
        ]
        out += [_row(["config key", "runs", "Spearman ρ", "forest"]), _row(["---"] * 4)]
        for row in rows:
            out.append(_row([_text(row["key"]), str(row["runs"]), _number(row["spearman"]),
                             _number(row["forest"])]))  # fmt: skip
        out.append("")
    best = bundle.get("best")
    if isinstance(best, dict):
        values = best.get("values") or [None, None]
        assert isinstance(values, list)
        out += [
            "## The best run against the baseline",
            "",
            f"{_text(names.get(str(best['best']), best['best']))} has the best "
            f"{_text(best['metric'])} ({_text(fmt_value(values[1]))}, against "
            f"{_text(fmt_value(values[0]))} for the baseline "
            f"{_text(names.get(str(best['baseline']), best['baseline']))}).",
            "",
        ]
        diff = best.get("rows")
        if isinstance(diff, list) and diff:
            out += [_row(["config key", "baseline", "best"]), _row(["---"] * 3)]
            out += [_row([_text(r["key"]), _text(fmt_value(r["baseline"])),
                          _text(fmt_value(r["best"]))]) for r in diff]  # fmt: skip
            out.append("")
    return out


def _number(value: object) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{value:.3f}"
