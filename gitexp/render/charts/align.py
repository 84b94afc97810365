"""Runs on different x grids brought onto one, a group's mean and band, thinning (numpy).

Alignment: the group's x values are the union of its runs' x values; each run is
evaluated at every union x inside its own range [first x, last x] by linear
interpolation between its two neighbouring points, and counts as missing outside it
(no extrapolation: a run that stopped early does not pull the mean after it stopped).
The mean and the band at an x use the runs that cover it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gitexp.render.charts.spec import Floats

    Ints = np.ndarray[tuple[int], np.dtype[np.intp]]


def clean(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    """Finite points sorted by x; where one x repeats, its last value (the newest row) wins."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) > 1:
        last = np.append(x[1:] != x[:-1], True)
        x, y = x[last], y[last]
    return x, y


def align(curves: Sequence[tuple[Floats, Floats]]) -> tuple[Floats, Floats]:
    """(union x, matrix runs x union) with NaN where a run does not cover an x."""
    cleaned = [clean(x, y) for x, y in curves]
    if not cleaned or not any(len(x) for x, _ in cleaned):
        return np.empty(0), np.empty((len(cleaned), 0))
    first = cleaned[0][0]
    if all(len(x) == len(first) and np.array_equal(x, first) for x, _ in cleaned[1:]):
        # The common case (runs of one sweep logging the same steps): nothing to align.
        return first, np.vstack([y for _, y in cleaned])
    grid = np.unique(np.concatenate([x for x, _ in cleaned]))
    matrix = np.full((len(cleaned), len(grid)), np.nan)
    for row, (x, y) in enumerate(cleaned):
        if len(x):
            lo, hi = np.searchsorted(grid, x[0]), np.searchsorted(grid, x[-1], side="right")
            matrix[row, lo:hi] = np.interp(grid[lo:hi], x, y)
    return grid, matrix


def aggregate(matrix: Floats, band: str) -> tuple[Floats, Floats | None, Floats | None]:
    """(mean, lower, upper) per column over the runs covering it.

    std: mean ± the sample standard deviation (ddof=1); sem: mean ± std / sqrt(n);
    minmax: the lowest and highest run; none: no band.  One run has no spread: its band
    is the line itself.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with one run: ddof=1
        mean = np.nanmean(matrix, axis=0)
        if band == "none":
            return mean, None, None
        if band == "minmax":
            return mean, np.nanmin(matrix, axis=0), np.nanmax(matrix, axis=0)
        count = np.sum(np.isfinite(matrix), axis=0)
        spread = np.nan_to_num(np.nanstd(matrix, axis=0, ddof=1), nan=0.0)
        if band == "sem":
            spread = spread / np.sqrt(np.maximum(count, 1))
    return mean, mean - spread, mean + spread


def thin_indices(y: Floats, max_points: int) -> Ints:
    """At most about ``max_points`` indices: each bucket's lowest and highest point, plus
    the first and last; spikes survive, which plain striding would drop."""
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = y
    shaped = padded.reshape(buckets, size)
    finite = np.isfinite(shaped)
    low = np.argmin(np.where(finite, shaped, np.inf), axis=1)
    high = np.argmax(np.where(finite, shaped, -np.inf), axis=1)
    base = np.arange(buckets) * size
    picked = np.concatenate([base + low, base + high, [0, n - 1]])
    return np.unique(picked[picked < n])


def ema(y: Floats, weight: float) -> Floats:
    """Bias-corrected exponential moving average (as TensorBoard and wandb draw it); NaN
    values are skipped and stay NaN."""
    if weight <= 0:
        return y
    out = np.full(len(y), np.nan)
    average, count = 0.0, 0
    for i, value in enumerate(y.tolist()):
        if value == value:  # not NaN
            count += 1
            average = average * weight + (1 - weight) * value
            out[i] = average / (1 - weight**count)
    return out
