"""Which config keys move a metric: Spearman's rank correlation per key, and a random
forest's feature importances when scikit-learn is installed (``gitexp[importance]``).

Spearman's correlation is Pearson's correlation of the ranks, ties given the average of
the ranks they span; it sees any monotonic effect, not only a linear one, and a key
that is a string has no order to rank (its correlation is left empty).  The forest sees
strings too (each value a code) and interactions, at the cost of being a model: with a
handful of runs its numbers are rough, which the table says by giving ``runs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gitexp.render.charts.across import is_categorical, numbers
from gitexp.render.charts.spec import Chart, Trace

MIN_RUNS = 3  # fewer runs than this say nothing about a correlation


@dataclass
class Importance:
    key: str
    runs: int  # runs with both this key and the metric
    spearman: float | None
    forest: float | None = None  # a share of 1 over all keys; None without scikit-learn


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they occupy."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(array, kind="stable")
    sorted_values = array[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(array)]
    average = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    out = np.empty(len(array))
    out[order] = np.repeat(average, ends - starts)
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation, or None with fewer than 3 pairs or a constant side."""
    if len(x) < MIN_RUNS:
        return None
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return None if denominator == 0 else float((rx * ry).sum() / denominator)


def importances(
    columns: dict[str, list[object]],
    target: Sequence[object],
    *,
    seed: int = 0,
    forest: bool = True,
) -> list[Importance]:
    """One row per key, strongest first (by |Spearman|, then by the forest, when
    ``forest`` and scikit-learn is installed)."""
    y = numbers(target)
    rows = []
    for key, cells in columns.items():
        pairs = [
            (x, t)
            for x, t in zip(numbers(cells), y, strict=True)
            if x is not None and t is not None
        ]
        both = sum(1 for c, t in zip(cells, y, strict=True) if c is not None and t is not None)
        rho = None
        if not is_categorical(cells) or all(isinstance(c, bool) for c in cells if c is not None):
            rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
        rows.append(Importance(key, both, rho))
    shares = forest_importances(columns, y, seed=seed) if forest else None
    if shares is not None:
        for row in rows:
            row.forest = shares.get(row.key)
    rows.sort(key=lambda r: (-(abs(r.spearman) if r.spearman is not None else -1),
                             -(r.forest or 0.0)))  # fmt: skip
    return rows


def forest_importances(
    columns: dict[str, list[object]], y: Sequence[float | None], *, seed: int = 0
) -> dict[str, float] | None:
    """A random forest's impurity importances, or None when scikit-learn is missing or
    fewer than 3 runs have the metric."""
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        return None
    rows = [i for i, t in enumerate(y) if t is not None]
    if len(rows) < MIN_RUNS or not columns:
        return None
    features = np.column_stack([_encoded(cells) for cells in columns.values()])[rows]
    model = RandomForestRegressor(n_estimators=200, random_state=seed)
    model.fit(features, np.asarray([y[i] for i in rows], dtype=float))
    return {key: float(v) for key, v in zip(columns, model.feature_importances_, strict=True)}


def _encoded(cells: list[object]) -> np.ndarray:
    """A column as a feature: numbers as they are; strings as codes in sorted order;
    missing as a value below every other (a tree can split it off)."""
    if is_categorical(cells):
        names = sorted({repr(c) for c in cells if c is not None})
        code = {name: float(i) for i, name in enumerate(names)}
        return np.asarray([-1.0 if c is None else code[repr(c)] for c in cells])
    values = numbers(cells)
    finite = [v for v in values if v is not None]
    floor = (min(finite) - 1.0) if finite else 0.0
    return np.asarray([floor if v is None else v for v in values])


def as_json(metric: str, rows: list[Importance]) -> dict[str, object]:
    return {
        "metric": metric,
        "rows": [
            {"key": r.key, "runs": r.runs, "spearman": r.spearman, "forest": r.forest} for r in rows
        ],
    }


def chart(metric: str, rows: list[Importance]) -> Chart:
    """A bar per key as a chart spec: x the key, y its correlation (markers, not lines)."""
    shown = [r for r in rows if r.spearman is not None]
    trace = Trace(
        "Spearman ρ",
        "#1f77b4",
        np.arange(len(shown), dtype=float),
        np.asarray([r.spearman for r in shown], dtype=float),
        texts=[r.key for r in shown],
    )
    ticks = [(float(i), r.key) for i, r in enumerate(shown)]
    return Chart(f"how config goes with {metric}", "config key", [trace], bars=True,
                 x_ticks=ticks)  # fmt: skip
