"""Metric series for charts: history rows to curves, smoothing, thinning, histogram grids.

Series are plain lists: the chart libraries (matplotlib, plotly.js, the text renderer) take
them.  Splitting rows works a column at a time in C-level loops, and thinning asks numpy
for each bucket's extremes, so that a report of a hundred runs of 10,000 steps loads fast
(docs/benchmarks.md, issue 20).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard, TypeVar

from gitexp.model import values

if TYPE_CHECKING:
    from gitexp.model.shapes import HistogramValue, HistoryRow

HISTOGRAM_TYPE = values.HISTOGRAM_TYPE
X_AXES = ("step", "time", "wall")  # step; seconds since the run started; clock time
MAX_POINTS = 4000  # per curve in a chart; more is thinned, keeping each bucket's min and max
MAX_HISTOGRAM_STEPS = 200  # per run and metric in a histogram chart
HISTOGRAM_GRID = 64  # bins of the common grid histogram charts are drawn on


def is_histogram(value: object) -> TypeGuard[HistogramValue]:
    """Whether a value read from a history row is a stored ``gitexp.Histogram``."""
    return isinstance(value, dict) and value.get("_type") == HISTOGRAM_TYPE


@dataclass
class Series:
    """One metric of one run: parallel lists; ``value`` None where NaN or infinite."""

    step: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)

    def x(self, axis: str) -> list[float]:
        if axis == "time":
            return self.time
        if axis == "wall":
            return self.wall
        return [float(s) for s in self.step]

    def as_json(self) -> dict[str, Sequence[float | None]]:
        return {"step": self.step, "time": self.time, "wall": self.wall, "value": self.value}


@dataclass
class RunHistograms:
    """One histogram metric of one run: the logged steps and their (edges, counts)."""

    steps: list[int] = field(default_factory=list)
    edges: list[list[float]] = field(default_factory=list)
    counts: list[list[float]] = field(default_factory=list)


def split_history(
    rows: Iterable[HistoryRow],
) -> tuple[dict[str, Series], dict[str, RunHistograms]]:
    """Numeric series and histogram series of a run's rows (strings and lists are skipped)."""
    rows = rows if isinstance(rows, list) else list(rows)
    by_column = split_columns(rows)
    return by_column if by_column is not None else split_rows(rows)


_T = TypeVar("_T")
_NUMBER_TYPES = frozenset({float, int})
_MAYBE_NUMBER_TYPES = frozenset({float, int, type(None)})


def split_columns(
    rows: list[HistoryRow],
) -> tuple[dict[str, Series], dict[str, RunHistograms]] | None:
    """:func:`split_history` a column at a time, or None for rows it leaves to
    :func:`split_rows` (a step that is no integer, a clock time or runtime missing or not a
    number): what gitexp itself wrote always comes here.

    Each column is gathered by one list comprehension and typed by one ``set(map(type))``,
    loops that run in C: a 1,000,000-row history splits in a third of the row loop's
    time (docs/benchmarks.md).  The result is the row loop's, order of keys included.
    """
    if not rows:
        return None
    steps = [row.get("_step") for row in rows]
    if set(map(type, steps)) != {int}:
        return None
    walls = _all_floats([row.get("_time") for row in rows])
    times = _all_floats([row.get("_runtime") for row in rows])
    if walls is None or times is None:
        return None
    int_steps: list[int] = steps  # type: ignore[assignment]  # checked: every one an int
    scalars: dict[str, tuple[int, Series]] = {}
    histograms: dict[str, tuple[int, RunHistograms]] = {}
    # Rows of one shape (the first row's keys in every row) are the rule: their keys are
    # the first row's, known once every column of those is full and every row as long
    # (its reserved keys being the three whose columns are full already).
    # Otherwise every row's keys are gathered (for 1,000,000 rows, half of what the split costs).
    first = [key for key in rows[0] if key[:1] != "_"]
    shaped = len(rows[0]) - len(first) == 3 and set(map(len, rows)) == {len(rows[0])}
    keys = first
    for key in first:
        column = [row.get(key) for row in rows]
        kinds = set(map(type, column))
        shaped = shaped and type(None) not in kinds
        _split_column(key, column, kinds, int_steps, times, walls, scalars, histograms)
    if not shaped:
        every = dict.fromkeys(itertools.chain.from_iterable(rows))
        for key in (key for key in every if key[:1] != "_" and key not in keys):
            column = [row.get(key) for row in rows]
            kinds = set(map(type, column))
            _split_column(key, column, kinds, int_steps, times, walls, scalars, histograms)
    return _in_row_order(rows, scalars), _in_row_order(rows, histograms)


def _split_column(
    key: str,
    column: list[object],
    kinds: set[type],
    steps: list[int],
    times: list[float],
    walls: list[float],
    scalars: dict[str, tuple[int, Series]],
    histograms: dict[str, tuple[int, RunHistograms]],
) -> None:
    """One column into ``scalars`` or ``histograms``, with the index of its first row."""
    if kinds <= _NUMBER_TYPES:  # a number in every row: the common case
        floats: list[float] = column if kinds == {float} else [float(v) for v in column]  # type: ignore[assignment,arg-type]
        scalars[key] = (0, Series(steps, times, walls, _finite(floats)))
    elif kinds <= _MAYBE_NUMBER_TYPES:  # a number in some rows, nothing in the others
        where = [i for i, value in enumerate(column) if value is not None]
        if where:
            numbers = _finite([float(column[i]) for i in where])  # type: ignore[arg-type]
            found = Series([steps[i] for i in where], [times[i] for i in where],
                           [walls[i] for i in where], numbers)  # fmt: skip
            scalars[key] = (where[0], found)
    else:
        _split_mixed(key, column, steps, times, walls, scalars, histograms)


def _all_floats(column: list[object]) -> list[float] | None:
    kinds = set(map(type, column))
    if kinds == {float}:
        return column  # type: ignore[return-value]  # checked: every one a float
    if kinds <= _NUMBER_TYPES:
        return [float(v) for v in column]  # type: ignore[arg-type]  # checked: numbers
    return None


def _finite(numbers: list[float]) -> list[float | None]:
    """NaN and infinities as None, as charts take gaps; a column of finite numbers as it is."""
    finite = math.isfinite
    if all(map(finite, numbers)):
        return numbers  # type: ignore[return-value]  # list is invariant; no None in it
    return [v if finite(v) else None for v in numbers]


def _split_mixed(
    key: str,
    column: list[object],
    steps: list[int],
    times: list[float],
    walls: list[float],
    scalars: dict[str, tuple[int, Series]],
    histograms: dict[str, tuple[int, RunHistograms]],
) -> None:
    """A column holding more than numbers (text, flags, histograms), value by value."""
    where: list[int] = []
    numbers: list[float | None] = []
    hist = RunHistograms()
    first_histogram = -1
    for index, value in enumerate(column):
        if values.is_number(value):
            where.append(index)
            number = float(value)
            numbers.append(number if math.isfinite(number) else None)
        elif is_histogram(value):
            edges, counts = value.get("bins"), value.get("counts")
            if isinstance(edges, list) and isinstance(counts, list) and counts:
                first_histogram = index if first_histogram < 0 else first_histogram
                hist.steps.append(steps[index])
                hist.edges.append([float(e) for e in edges])
                hist.counts.append([float(c) for c in counts])
    if where:
        scalars[key] = (where[0], Series([steps[i] for i in where], [times[i] for i in where],
                                         [walls[i] for i in where], numbers))  # fmt: skip
    if first_histogram >= 0:
        histograms[key] = (first_histogram, hist)


def _in_row_order(rows: list[HistoryRow], found: dict[str, tuple[int, _T]]) -> dict[str, _T]:
    """Keys in the order the row loop meets them: by the first row holding a value of
    theirs, then by their place in that row."""
    places: dict[int, dict[str, int]] = {}

    def place(key: str) -> tuple[int, int]:
        first = found[key][0]
        if first not in places:
            places[first] = {k: i for i, k in enumerate(rows[first])}
        return first, places[first][key]

    return {key: found[key][1] for key in sorted(found, key=place)}


def split_rows(
    rows: Iterable[HistoryRow],
) -> tuple[dict[str, Series], dict[str, RunHistograms]]:
    """:func:`split_history` row by row: every row shape, however odd."""
    # Per row its step, time and clock once; per value only (row number, value): the
    # series' columns are gathered per metric at the end.  A 1,000,000-row history is
    # split in about half the time of appending four lists per value.
    steps: list[int] = []
    times: list[float] = []
    walls: list[float] = []
    found: dict[str, tuple[list[int], list[float | None]]] = {}
    histograms: dict[str, RunHistograms] = {}
    first_time: float | None = None
    is_number, finite = values.is_number, math.isfinite  # locals: this loop runs per row
    for row in rows:
        step = row.get("_step")
        if not isinstance(step, int):
            continue
        stamp = row.get("_time")
        wall = float(stamp) if is_number(stamp) else 0.0
        elapsed = row.get("_runtime")
        if is_number(elapsed):
            runtime = float(elapsed)
        else:  # rows written by other tools: time since the first row
            first_time = wall if first_time is None else first_time
            runtime = wall - first_time
        index = len(steps)
        steps.append(step)
        times.append(runtime)
        walls.append(wall)
        for key, value in row.items():
            if key[:1] == "_":
                continue
            kind = type(value)
            if kind is float or kind is int or is_number(value):
                column = found.get(key)
                if column is None:
                    column = found[key] = ([], [])
                column[0].append(index)
                number = float(value)  # type: ignore[arg-type]  # checked: int or float
                column[1].append(number if finite(number) else None)
            elif is_histogram(value):
                edges, counts = value.get("bins"), value.get("counts")
                if isinstance(edges, list) and isinstance(counts, list) and counts:
                    hist = histograms.get(key)
                    if hist is None:
                        hist = histograms[key] = RunHistograms()
                    hist.steps.append(step)
                    hist.edges.append([float(e) for e in edges])
                    hist.counts.append([float(c) for c in counts])
    scalars: dict[str, Series] = {}
    for key, (where, numbers) in found.items():
        if len(where) == len(steps):  # logged in every row: the columns as they are
            scalars[key] = Series(steps, times, walls, numbers)
        else:
            scalars[key] = Series(
                [steps[i] for i in where], [times[i] for i in where], [walls[i] for i in where],
                numbers,
            )  # fmt: skip
    return scalars, histograms


def match_metrics(patterns: list[str], available: Iterable[str]) -> tuple[list[str], list[str]]:
    """Metric names matching ``patterns`` (exact names or globs), and the unmatched patterns."""
    names = list(dict.fromkeys(available))
    found: list[str] = []
    missing: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if n == pattern or fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            missing.append(pattern)
        found.extend(h for h in hits if h not in found)
    return found, missing


def smooth(values_: list[float | None], weight: float) -> list[float | None]:
    """Exponential moving average with bias correction (as TensorBoard and wandb draw it).

    ``weight`` 0 returns the values unchanged; 0.99 is very smooth.  Gaps stay gaps.
    """
    if weight <= 0:
        return list(values_)
    out: list[float | None] = []
    average = 0.0
    count = 0
    for value in values_:
        if value is None:
            out.append(None)
            continue
        count += 1
        average = average * weight + (1 - weight) * value
        out.append(average / (1 - weight**count))
    return out


def thin(series: Series, max_points: int = MAX_POINTS) -> Series:
    """At most about ``max_points`` points, keeping every bucket's lowest and highest value.

    Plain striding would hide the spikes a user looks for; min/max buckets keep them.
    Each bucket's lowest and highest are found by numpy (the first of equal ones, as
    ``min`` and ``max`` find them): a hundred runs' curves thin in a third of the time.
    """
    n = len(series.step)
    if n <= max_points:
        return series
    import numpy as np  # here: the text charts and the run path never thin

    buckets = max(1, max_points // 2)
    size = n / buckets
    numbers = np.array(series.value, dtype=float)  # None becomes NaN
    gaps = np.isnan(numbers)
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        if lo >= hi:  # an empty bucket (never, with n > max_points): its start stands in
            keep.append(lo)
            continue
        bucket = numbers[lo:hi]
        if gaps[lo:hi].any():
            where = np.flatnonzero(~gaps[lo:hi])
            if not len(where):
                keep.append(lo)
                continue
            low, high = where[np.argmin(bucket[where])], where[np.argmax(bucket[where])]
        else:
            low, high = np.argmin(bucket), np.argmax(bucket)
        keep.extend(sorted({lo + int(low), lo + int(high)}))
    if keep[-1] != n - 1:
        keep.append(n - 1)
    return Series(
        [series.step[i] for i in keep],
        [series.time[i] for i in keep],
        [series.wall[i] for i in keep],
        [series.value[i] for i in keep],
    )


def histogram_range(hists: Iterable[RunHistograms]) -> tuple[float, float] | None:
    """The smallest and largest edge over all logged histograms (one scale for all runs)."""
    low, high = math.inf, -math.inf
    for hist in hists:
        for edges in hist.edges:
            if edges:
                low, high = min(low, edges[0]), max(high, edges[-1])
    if not math.isfinite(low) or not math.isfinite(high):
        return None
    if low == high:
        low, high = low - 0.5, high + 0.5
    return low, high


def regrid(
    hist: RunHistograms, low: float, high: float, bins: int = HISTOGRAM_GRID
) -> tuple[list[int], list[list[float]]]:
    """Each logged histogram redistributed onto ``bins`` equal bins over [low, high].

    Returns (steps, grid) with ``grid[bin][step index]``, the layout heatmaps take.  A
    source bin's count is shared among the grid bins it overlaps, in proportion to the
    overlap (assigning whole bins would paint stripes where the widths differ); at most
    ``MAX_HISTOGRAM_STEPS`` steps are kept, evenly spaced, the last always.
    """
    indices = list(range(len(hist.steps)))
    if len(indices) > MAX_HISTOGRAM_STEPS:
        stride = len(indices) / MAX_HISTOGRAM_STEPS
        indices = sorted({int(i * stride) for i in range(MAX_HISTOGRAM_STEPS)} | {indices[-1]})
    width = (high - low) / bins
    grid = [[0.0] * len(indices) for _ in range(bins)]
    for column, i in enumerate(indices):
        edges, counts = hist.edges[i], hist.counts[i]
        for j, count in enumerate(counts[: len(edges) - 1]):
            if count:
                _spread(grid, column, edges[j], edges[j + 1], count, low, width, bins)
    return [hist.steps[i] for i in indices], grid


def _spread(
    grid: list[list[float]],
    column: int,
    start: float,
    end: float,
    count: float,
    low: float,
    width: float,
    bins: int,
) -> None:
    first = min(bins - 1, max(0, int((start - low) / width)))
    last = min(bins - 1, max(0, int((end - low) / width)))
    span = end - start
    if span <= 0 or first == last:
        grid[first][column] += count
        return
    for target in range(first, last + 1):
        lo = max(start, low + target * width)
        hi = min(end, low + (target + 1) * width)
        if hi > lo:
            grid[target][column] += count * (hi - lo) / span


def grid_centres(low: float, high: float, bins: int = HISTOGRAM_GRID) -> list[float]:
    width = (high - low) / bins
    return [low + (i + 0.5) * width for i in range(bins)]
