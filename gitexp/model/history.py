"""Metric history: the per-step rows a run logged, their summary, and their chunks in git.

The live history file is JSON lines, one row per step, appended by the in-script
logger.  The recorder feeds it here incrementally.  In git the rows are split into
chunks of ``CHUNK_ROWS`` (``.gitexp/history/000000.jsonl``, ...) so that a checkpoint
rewrites only the last, partial chunk: a long run costs linear, not quadratic, space.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from gitexp.model import values
from gitexp.model.summary import summarize
from gitexp.slotted import Slotted
from gitexp.typecheck import TYPE_CHECKING, cast

# One logged row read from git; a longer line is skipped (docs/format.md, "Limits readers
# enforce").  Here rather than in model/validate.py, which the run path never imports.
MAX_HISTORY_LINE = 1 << 20

# Media references in history rows (docs/format.md, "Media"; added in 0.3).  Here, beside
# the rows that hold them, so the summary can tell them from metrics without importing
# model/validate.py (which checks them, and re-exports these names).
MEDIA_DIR = ".gitexp/media"  # every media file of a run lies under this folder of its tree
IMAGE_FILE, TABLE_FILE, HTML_FILE = "image-file", "table-file", "html-file"
AUDIO_FILE, VIDEO_FILE, CHART = "audio-file", "video-file", "chart"
FILE_TYPES = frozenset({IMAGE_FILE, TABLE_FILE, HTML_FILE, AUDIO_FILE, VIDEO_FILE})
MEDIA_TYPES = FILE_TYPES | {CHART}


def is_media(value: object) -> bool:
    """Whether a logged value is a media reference (or a list of them)."""
    if isinstance(value, list):
        return bool(value) and all(is_media(item) for item in value)
    return isinstance(value, dict) and value.get("_type") in MEDIA_TYPES


if TYPE_CHECKING:
    from gitexp.model.shapes import HistoryRow, MetricsFile, MetricSummary, RowMetric

CHUNK_ROWS = 10_000
STEP = "_step"
RESERVED_KEYS = values.RESERVED_KEYS


def chunk_name(index: int) -> str:
    return f"{index:06d}.jsonl"


class MetricStats(Slotted):
    """Summary of one key: last value always; min and max for numbers (NaN skipped)."""

    _fields = (
        "last",
        "last_step",
        "min",
        "min_step",
        "max",
        "max_step",
        "count",
        "total",
        "numbers",
    )
    __slots__ = _fields

    def __init__(self) -> None:
        self.last: object = None
        self.last_step = 0
        self.min: float | None = None
        self.min_step: int | None = None
        self.max: float | None = None
        self.max_step: int | None = None
        self.count = 0
        self.total = 0.0  # of the numbers (NaN skipped), for summary="mean"
        self.numbers = 0

    def add(self, value: object, step: int) -> None:
        self.last, self.last_step = value, step
        self.count += 1
        if not values.is_number(value) or (isinstance(value, float) and math.isnan(value)):
            return
        self.total += value
        self.numbers += 1
        if self.min is None or value < self.min:
            self.min, self.min_step = value, step
        if self.max is None or value > self.max:
            self.max, self.max_step = value, step

    def as_json(self) -> MetricSummary:
        out: MetricSummary = {"last": self.last, "last_step": self.last_step, "count": self.count}
        if self.min is not None and self.max is not None:  # all four are set together
            out["min"], out["min_step"] = self.min, self.min_step or 0
            out["max"], out["max_step"] = self.max, self.max_step or 0
        return out


class History:
    """Rows fed in order; keeps the summary and the not-yet-full chunk in memory."""

    def __init__(self) -> None:
        self.stats: dict[str, MetricStats] = {}
        self.rows = 0
        self.last_step: int | None = None
        self.full_chunks: list[bytes] = []  # completed chunks not yet taken by the recorder
        self.chunks_taken = 0
        self._current: list[bytes] = []

    def feed(self, data: bytes, final: bool = False) -> int:
        """Consume the whole lines of ``data``; return how many bytes were used.

        A line cut short by a crash is left for the next call, or dropped when
        ``final`` (the history then ends at the last whole record).
        """
        used = 0
        while True:
            end = data.find(b"\n", used)
            if end < 0:
                break
            self.add_line(data[used : end + 1])
            used = end + 1
        if final:
            used = len(data)
        return used

    def add_line(self, line: bytes) -> None:
        try:
            row = values.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return  # a torn or foreign line: skip it rather than lose the run
        if not isinstance(row, dict) or not isinstance(row.get(STEP), int):
            return
        step = row[STEP]
        if self.last_step is not None and step <= self.last_step:
            return  # steps never go backwards (the logger enforces it; belt and braces)
        self.last_step = step
        for key, value in row.items():
            if key in RESERVED_KEYS:
                continue
            stats = self.stats.get(key)
            if stats is None:
                stats = self.stats[key] = MetricStats()
            stats.add(value, step)
        self.rows += 1
        self._current.append(line if line.endswith(b"\n") else line + b"\n")
        if len(self._current) >= CHUNK_ROWS:
            self.full_chunks.append(b"".join(self._current))
            self._current = []

    def take_full_chunks(self) -> list[tuple[int, bytes]]:
        """Completed chunks (index, content) not handed out before."""
        taken = [(self.chunks_taken + i, chunk) for i, chunk in enumerate(self.full_chunks)]
        self.chunks_taken += len(self.full_chunks)
        self.full_chunks = []
        return taken

    def current_chunk(self) -> tuple[int, bytes] | None:
        if not self._current:
            return None
        return self.chunks_taken + len(self.full_chunks), b"".join(self._current)

    def summary_json(
        self, overrides: Mapping[str, object], definitions: Mapping[str, object] | None = None
    ) -> MetricsFile:
        """``metrics.json``: per-key statistics and the summary (model/summary.py's rule)."""
        return {
            "format": 1,
            "steps": self.rows,
            "last_step": self.last_step,
            "summary": summarize(self.stats, overrides, definitions or {}),
            "explicit": sorted(overrides),
            "metrics": {key: stats.as_json() for key, stats in self.stats.items()},
        }

    def row_metrics(
        self, overrides: Mapping[str, object], definitions: Mapping[str, object] | None = None
    ) -> dict[str, RowMetric]:
        """Compact metrics for the listing row: ``{key: {"last", "min", "max"}}``, and
        ``summary`` where define_metric's rule makes it differ from ``last``."""
        summary = summarize(self.stats, {}, definitions) if definitions else None
        out: dict[str, RowMetric] = {}
        for key, stats in self.stats.items():
            if isinstance(stats.last, dict) or is_media(stats.last):
                continue  # a histogram (~1 KB), media: the row stays small; metrics.json has it
            entry: RowMetric = {"last": stats.last}
            if stats.min is not None and stats.max is not None:
                entry["min"], entry["max"] = stats.min, stats.max
            if summary is not None and key not in overrides:
                value = summary.get(key)
                if key not in summary or values.dumps(value) != values.dumps(stats.last):
                    entry["summary"] = value  # null: summary="none", no summary value
            out[key] = entry
        for key, value in overrides.items():
            if not isinstance(value, dict):
                out.setdefault(key, {})["last"] = value
        return out


def parse_rows(data: bytes) -> list[HistoryRow]:
    """Rows of a history chunk read from git (torn lines skipped)."""
    fast = _parse_whole(data)
    if fast is not None:
        return fast
    rows: list[HistoryRow] = []
    for line in data.splitlines():
        if len(line) > MAX_HISTORY_LINE:
            continue  # docs/format.md, "Limits readers enforce": not a row gitexp wrote
        try:
            row = values.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _parse_whole(data: bytes) -> list[HistoryRow] | None:
    """The chunk's rows in one parse of all its lines as one array, or None when the chunk
    needs the line-by-line reading (a torn or overlong line, a tagged value).

    One call into a C parser instead of one per line: a 1,000,000-row history reads in
    about half the time; orjson (installed with DVC, which requires it on CPython) parses
    it in a third of json's time again (docs/benchmarks.md, report).  The array must hold
    exactly one object per line; otherwise (a torn line pairing up with its neighbour, say)
    the lines are read one by one, where a line that is not a whole row alone is skipped.
    """
    if b'"$' in data:  # tagged NaN, infinities, escaped keys: values.loads decodes them
        return None
    body = data[:-1] if data.endswith(b"\n") else data
    if len(data) <= MAX_HISTORY_LINE and body and b"\n\n" not in body and body[:1] != b"\n":
        # As gitexp writes chunks: one row a line, none blank, none overlong (the chunk
        # is not); lines split by C alone.  A line ending in "\r" fails to parse or
        # counts wrong, and goes the way below.
        count, joined = body.count(b"\n") + 1, b"[" + body.replace(b"\n", b",") + b"]"
    else:
        lines = [line for line in data.splitlines() if line]
        if not lines or max(map(len, lines)) > MAX_HISTORY_LINE:
            return None
        count, joined = len(lines), b"[" + b",".join(lines) + b"]"
    parsed = fast_loads(joined)
    if parsed is None:
        try:
            parsed = json.loads(joined)
        except ValueError:  # UnicodeDecodeError included
            return None
    if len(parsed) != count or set(map(type, parsed)) != {dict}:
        return None
    return cast("list[HistoryRow]", parsed)


def fast_loads(joined: bytes) -> list[object] | None:
    """``joined`` parsed by orjson, or None where orjson is missing or refuses it, or
    would read it otherwise than json (``values.exact_loads``), or it is no array."""
    parsed = values.exact_loads(joined)
    return parsed if type(parsed) is list else None
