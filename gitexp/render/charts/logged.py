"""What runs log beyond scalars, drawn: media panels (images, tables, html, audio, video:
``_type`` references in history rows, docs/format.md "Media") and the chart specs logged
through ``gitexp.plot.*``.

Every byte of a media file comes through ``gitexp/read/media.py`` (a ``Reader`` bound to
the repository): the reference is checked, looked up in the run's tree, its hash
compared.  Every string from a run is hostile: the page builds its elements with
``textContent``/attributes, and text that plotly reads as markup is escaped here.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gitexp.errors import GitexpError
from gitexp.model.history import (
    AUDIO_FILE,
    CHART,
    HTML_FILE,
    IMAGE_FILE,
    TABLE_FILE,
    VIDEO_FILE,
    is_media,
)
from gitexp.render.charts.plotlyfig import text

if TYPE_CHECKING:
    from gitexp.model.shapes import HistoryRow
    from gitexp.render.bundle import RunData

    # a run and one of its references -> the file's bytes (read/media.py's media_file)
    Reader = Callable[[RunData, object], bytes]
    # a run and a reference -> a URL the ui serves the file at (None: embed it)
    Linker = Callable[[RunData, dict[str, object]], str]
    Logged = dict[str, list[tuple[int, object]]]

# The report is one self-contained file: media are embedded as data: URIs, so their
# count and bytes are capped; what is left out is said in the panel.
MAX_IMAGES = 24  # per run and key: evenly spread over the steps, the last one kept
MAX_PANEL_BYTES = 2 << 20  # embedded bytes per run and key
MAX_REPORT_BYTES = 12 << 20  # embedded bytes in a whole report
MAX_TABLE_ROWS = 200
MAX_HTML_CHARS = 200_000
HIST_BINS = 30
IMAGE_MIME = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
}
AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
}
VIDEO_MIME = {"mp4": "video/mp4", "webm": "video/webm", "ogg": "video/ogg", "gif": "image/gif"}


def collect(rows: Iterable[HistoryRow], keys: Iterable[str] | None = None) -> Logged:
    """Per media key, the (step, reference) pairs a run's history holds, in order.
    ``keys``: the run's media keys (metrics.json says them), so that only those are
    looked at: a run without media costs nothing, one with a media key about an eighth of
    what splitting its history costs (every value of every row: a half; a live run's)."""
    wanted = None if keys is None else list(keys)
    if wanted == []:
        return {}
    found: dict[str, list[tuple[int, object]]] = {}
    for row in rows:
        for key in row if wanted is None else wanted:
            value = row.get(key)
            # the cheap test first: most values are numbers, most rows lack the key
            if isinstance(value, (dict, list)) and is_media(value):
                step = row.get("_step")
                if isinstance(step, int):
                    found.setdefault(key, []).append((step, value))
    return found


def mime_of(ref: dict[str, object]) -> str | None:
    """The content type a reference's file is served or embedded as; None for a kind
    the page does not show (an SVG image could carry script: never served as one)."""
    kind, ext = ref.get("_type"), str(ref.get("format") or "").lower()
    if not ext:
        ext = str(ref.get("path") or "").rsplit(".", 1)[-1].lower()
    table = {IMAGE_FILE: IMAGE_MIME, AUDIO_FILE: AUDIO_MIME, VIDEO_FILE: VIDEO_MIME}.get(
        str(kind), {}
    )
    return table.get(ext)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_REPORT_BYTES


def media_panels(
    runs: Sequence[RunData], read: Reader | None = None, link: Linker | None = None
) -> list[dict[str, object]]:
    """Per run and media key, the panel the report draws: an image strip with a step
    slider, a table, an html page (sandboxed), audio/video, a logged chart.  Without a
    reader (the markdown report) none: it lists the keys from metrics.json instead."""
    if read is None:
        return []
    budget = _Budget()
    panels: list[dict[str, object]] = []
    for data in runs:
        for key, logged in data.media.items():
            panel: dict[str, object] = {"run": data.view.info.id, "key": key, "count": len(logged)}
            try:
                panel.update(_panel(data, logged, read, link, budget))
            except GitexpError as exc:  # one bad file: that panel says so, the rest draw
                panel.update(type="error", error=str(exc)[:500])
            panels.append(panel)
    return panels


def _flat(logged: Logged | list[tuple[int, object]]) -> list[tuple[int, dict[str, object]]]:
    out: list[tuple[int, dict[str, object]]] = []
    for step, value in logged if isinstance(logged, list) else []:
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict):
                out.append((step, ref))
    return out


def _spread(count: int, most: int) -> list[int]:
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def _panel(
    data: RunData,
    logged: list[tuple[int, object]],
    read: Reader,
    link: Linker | None,
    budget: _Budget,
) -> dict[str, object]:
    refs = _flat(logged)
    step, last = refs[-1]
    kind = str(last.get("_type"))
    if kind == IMAGE_FILE:
        return _images(data, refs, read, link, budget)
    if kind == CHART:
        table = _table(read(data, last))
        figure = draw_logged_chart(last, table)
        if figure is not None:
            return {"type": "chart", "step": step, "figure": figure}
        kind = TABLE_FILE  # a chart kind this version does not know: its table
    if kind == TABLE_FILE:
        table = _table(read(data, last))
        rows = table["data"]
        return {
            "type": "table",
            "step": step,
            "columns": [_cell(c) for c in table["columns"]],
            "rows": [
                [_cell(c) for c in row] if isinstance(row, list) else [_cell(row)]
                for row in rows[:MAX_TABLE_ROWS]
            ],
            "left_out": _rows_left(len(rows)),
        }
    if kind == HTML_FILE:
        page = read(data, last).decode("utf-8", "replace")
        left = f"cut at {MAX_HTML_CHARS:,} characters" if len(page) > MAX_HTML_CHARS else ""
        return {"type": "html", "step": step, "html": page[:MAX_HTML_CHARS], "left_out": left}
    if kind in (AUDIO_FILE, VIDEO_FILE):
        mime = mime_of(last)
        tag = "img" if mime == "image/gif" else ("audio" if kind == AUDIO_FILE else "video")
        item = {"type": tag, "step": step, "caption": _caption(last)}
        if mime is None:
            return {**item, "left_out": "a format browsers do not play"}
        src = _source(data, last, mime, read, link, budget, MAX_PANEL_BYTES)
        if src is None:
            return {**item, "left_out": f"{_size(last)} is over the report's size budget"}
        return {**item, "src": src}
    return {"type": "unknown", "left_out": f"a media type this version does not draw: {kind}"}


def _images(
    data: RunData,
    refs: list[tuple[int, dict[str, object]]],
    read: Reader,
    link: Linker | None,
    budget: _Budget,
) -> dict[str, object]:
    items: list[dict[str, object]] = []
    panel_left = MAX_PANEL_BYTES
    over = unread = 0
    for index in reversed(_spread(len(refs), MAX_IMAGES)):  # the newest first: kept first
        step, ref = refs[index]
        mime = mime_of(ref)
        try:
            src = None if mime is None else _source(data, ref, mime, read, link, budget, panel_left)
        except GitexpError:  # one file not there (a live run's newest) or changed
            unread += 1
            continue
        if src is None:
            over += 1
            continue
        if link is None:
            panel_left -= len(src)
        items.append({"step": step, "src": src, "caption": _caption(ref)})
    items.reverse()
    notes = []
    if len(refs) > MAX_IMAGES:
        notes.append(
            f"{len(refs) - min(len(refs), MAX_IMAGES)} of {len(refs)} images left out "
            f"(at most {MAX_IMAGES} per key, spread over the steps)"
        )
    if over:
        notes.append(f"{over} over the size budget or in a format browsers do not show")
    if unread:
        notes.append(f"{unread} that could not be read (not committed yet, or changed)")
    return {"type": "image", "items": items, "left_out": "; ".join(notes)}


def _source(
    data: RunData,
    ref: dict[str, object],
    mime: str,
    read: Reader,
    link: Linker | None,
    budget: _Budget,
    room: int,
) -> str | None:
    """A URL for the file: the ui's, or a data: URI while the budgets allow."""
    if link is not None:
        return link(data, ref)
    size = ref.get("size")
    if not isinstance(size, int) or size * 4 // 3 + 64 > min(room, budget.left):
        return None  # over budget: not even read
    uri = f"data:{mime};base64," + base64.b64encode(read(data, ref)).decode("ascii")
    budget.left -= len(uri)
    return uri


def _size(ref: dict[str, object]) -> str:
    size = ref.get("size")
    return f"{size:,} bytes" if isinstance(size, int) else "its size"


def _caption(ref: dict[str, object]) -> str:
    caption = ref.get("caption")
    return str(caption)[:500] if isinstance(caption, str) else ""


def _rows_left(count: int) -> str:
    if count <= MAX_TABLE_ROWS:
        return ""
    return f"{count - MAX_TABLE_ROWS:,} of {count:,} rows left out"


def _table(raw: bytes) -> dict[str, Any]:
    from gitexp.errors import FormatError
    from gitexp.model import validate

    try:
        table = validate.load_json(raw, "a media table")
    except ValueError as exc:
        raise FormatError(str(exc), "The run's table file is damaged; see `gitexp show`.") from None
    if not isinstance(table, dict) or not all(
        isinstance(table.get(k), list) for k in ("columns", "data")
    ):
        raise FormatError("a media table has no columns and data lists", "See `gitexp show`.")
    return table


def _cell(value: object) -> object:
    """A cell as the page shows it: numbers and text as they are (the page sets them as
    text), a media reference as its kind, anything else as short JSON text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) else value[:2000]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict) and "_type" in value:
        return f"[{value.get('_type')}]"
    import json

    return json.dumps(value, default=str)[:2000]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _label(value: object) -> str:
    return text(str(value))[:200]


def draw_logged_chart(spec: dict[str, object], table: dict[str, Any]) -> dict[str, object] | None:
    """A chart spec a run logged (``gitexp.plot.line`` and friends) with its table (read
    through read/media.py) as a plotly figure ``{"metric", "data", "layout"}``, or None
    for a spec this version cannot draw (the panel shows the table)."""
    fields = spec.get("fields")
    kind = spec.get("chart")
    columns = [str(c) for c in table["columns"]]
    rows = [r for r in table["data"] if isinstance(r, list) and len(r) == len(columns)]
    if not isinstance(fields, dict):
        return None

    def column(role: str) -> list[object] | None:
        name = fields.get(role)
        if name not in columns:
            return None
        at = columns.index(str(name))
        return [r[at] for r in rows]

    title = _label(spec.get("title") or kind)
    layout: dict[str, object] = {
        "title": {"text": title, "x": 0.02, "xanchor": "left", "font": {"size": 14}},
        "margin": {"l": 60, "r": 16, "t": 40, "b": 44},
        "height": 340,
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.25},
    }
    data: list[dict[str, object]]
    if kind in ("line", "scatter", "line_series", "roc_curve", "pr_curve"):
        xs, ys = column("x"), column("y")
        if xs is None or ys is None:
            return None
        series = column("series") or [None] * len(xs)
        mode = "markers" if kind == "scatter" else "lines"
        data = []
        for name in dict.fromkeys(series):
            picked = [i for i, s in enumerate(series) if s == name]
            trace: dict[str, object] = {
                "type": "scatter",
                "mode": mode,
                "x": [_number(xs[i]) for i in picked],
                "y": [_number(ys[i]) for i in picked],
            }
            if name is not None:
                trace["name"] = _label(name)
            data.append(trace)
        layout["xaxis"] = {"title": {"text": _label(fields.get("x"))}}
        layout["yaxis"] = {"title": {"text": _label(fields.get("y"))}, "automargin": True}
        if kind in ("roc_curve", "pr_curve"):
            layout["xaxis"] = {**layout["xaxis"], "range": [0, 1]}  # type: ignore[dict-item]
            layout["yaxis"] = {**layout["yaxis"], "range": [0, 1.02]}  # type: ignore[dict-item]
    elif kind == "bar":
        labels, values = column("label"), column("value")
        if labels is None or values is None:
            return None
        data = [
            {"type": "bar", "x": [_label(v) for v in labels], "y": [_number(v) for v in values]}
        ]
    elif kind == "histogram":
        values = column("value")
        if values is None:
            return None
        data = [_histogram([v for v in map(_number, values) if v is not None])]
        layout["bargap"] = 0.02
    elif kind == "confusion_matrix":
        found = _confusion(column("actual"), column("predicted"), column("value"))
        if found is None:
            return None
        data, axes = found
        layout.update(axes)
    else:
        return None
    return {"metric": title, "data": data, "layout": layout}


def _histogram(values: list[float]) -> dict[str, object]:
    """Bins computed here: the basic plotly bundle has no histogram trace, so a bar."""
    if not values:
        return {"type": "bar", "x": [], "y": []}
    low, high = min(values), max(values)
    width = (high - low) / HIST_BINS or 1.0
    counts = [0] * HIST_BINS
    for v in values:
        counts[min(int((v - low) / width), HIST_BINS - 1)] += 1
    centres = [low + (i + 0.5) * width for i in range(HIST_BINS)]
    return {"type": "bar", "x": centres, "y": counts, "width": [width] * HIST_BINS}


def _confusion(
    actual: list[object] | None, predicted: list[object] | None, counts: list[object] | None
) -> tuple[list[dict[str, object]], dict[str, object]] | None:
    """A confusion matrix as a grid of square markers, shaded by count and labelled with
    it: the vendored plotly bundle (scatter, bar, pie) has no heatmap trace."""
    if actual is None or predicted is None or counts is None:
        return None
    classes = [_label(c) for c in dict.fromkeys([*actual, *predicted])]
    values = [_number(c) or 0.0 for c in counts]
    size = max(12, min(60, 360 // max(1, len(classes))))
    trace: dict[str, object] = {
        "type": "scatter",
        "mode": "markers+text",
        "x": [_label(p) for p in predicted],
        "y": [_label(a) for a in actual],
        "text": [f"{v:g}" for v in values],
        "hovertemplate": "actual %{y}, predicted %{x}: %{text}<extra></extra>",
        "marker": {
            "symbol": "square",
            "size": size,
            "color": values,
            "colorscale": [[0, "#f4f8fc"], [1, "#6fa8dc"]],  # light: the counts stay legible
            "showscale": True,
        },
    }
    axes: dict[str, object] = {
        "xaxis": {
            "title": {"text": "predicted"},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": classes,
        },
        "yaxis": {
            "title": {"text": "actual"},
            "type": "category",
            "autorange": "reversed",
            "categoryorder": "array",
            "categoryarray": classes,
            "automargin": True,
        },
    }
    return [trace], axes
