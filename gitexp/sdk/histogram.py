"""``gitexp.Histogram``: a distribution logged as a compact binned summary, never the raw array.

``gitexp.log({"weights/fc1": gitexp.Histogram(tensor)})`` stores one JSON object in that
step's history row (docs/format.md)::

    {"_type": "histogram", "bins": [65 edges], "counts": [64 ints]}

plus ``"nonfinite": n`` when NaN or infinite values were left out of the bins.  A million
weights cost about 1 KB per step.  numpy and torch are imported only when a histogram is
built (the logger calls :meth:`Histogram.to_gitexp_json` on its slow path), so
``import gitexp`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, cast

from gitexp.model.values import HISTOGRAM_TYPE

if TYPE_CHECKING:
    import torch

    from gitexp.model.shapes import HistogramValue

NUM_BINS = 64
MAX_BINS = 512


class Histogram:
    """A binned distribution, shaped like ``wandb.Histogram``.

    Args:
        sequence: numbers to bin: a list, a numpy array or a torch tensor (any shape; it is
            flattened; a tensor is binned on its own device with ``torch.histc``).
        np_histogram: instead of ``sequence``, ready-made ``(counts, edges)`` as returned by
            ``numpy.histogram``.
        num_bins: the number of equal-width bins between the smallest and largest finite
            value (1 to 512; default 64).
    """

    def __init__(
        self,
        sequence: object = None,
        np_histogram: tuple[Sequence[float], Sequence[float]] | None = None,
        num_bins: int = NUM_BINS,
    ) -> None:
        if isinstance(num_bins, bool) or not isinstance(num_bins, int):
            raise TypeError(f"num_bins must be an int, got {num_bins!r}")
        if not 1 <= num_bins <= MAX_BINS:
            raise ValueError(f"num_bins must be between 1 and {MAX_BINS}, got {num_bins}")
        self.nonfinite = 0
        if np_histogram is not None:
            if sequence is not None:
                raise ValueError("give either sequence or np_histogram, not both")
            counts, edges = np_histogram
            self.histogram = [_count(c) for c in counts]
            self.bins = [float(e) for e in edges]
            if len(self.bins) != len(self.histogram) + 1:
                raise ValueError(
                    f"np_histogram needs one more edge than counts, got {len(self.bins)} "
                    f"edges for {len(self.histogram)} counts"
                )
        elif sequence is None:
            raise ValueError("Histogram needs a sequence of numbers (or np_histogram=)")
        elif hasattr(sequence, "detach") and hasattr(sequence, "histc"):  # a torch tensor
            tensor = cast("torch.Tensor", sequence)  # known without importing torch
            self.histogram, self.bins, self.nonfinite = _bin_tensor(tensor, num_bins)
        else:
            self.histogram, self.bins, self.nonfinite = _bin_array(sequence, num_bins)

    def to_gitexp_json(self) -> HistogramValue:
        """The object stored in the history row (called by ``gitexp.log``)."""
        out: HistogramValue = {
            "_type": HISTOGRAM_TYPE,
            "bins": _compact_edges(self.bins),
            "counts": self.histogram,
        }
        if self.nonfinite:
            out["nonfinite"] = self.nonfinite
        return out

    def __repr__(self) -> str:
        span = f"{self.bins[0]:.4g}..{self.bins[-1]:.4g}" if self.bins else "empty"
        return f"<gitexp.Histogram {len(self.histogram)} bins {span} n={sum(self.histogram)}>"


def _count(value: float) -> int:
    count = round(float(value))
    if count < 0:
        raise ValueError(f"histogram counts cannot be negative, got {value!r}")
    return count


def _bin_array(sequence: object, num_bins: int) -> tuple[list[int], list[float], int]:
    import numpy as np

    try:
        data = np.asarray(sequence, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Histogram needs numbers, got {type(sequence).__name__}: {exc}") from None
    finite = np.isfinite(data)
    nonfinite = int(data.size - np.count_nonzero(finite))
    if nonfinite:
        data = data[finite]
    if data.size == 0:
        return [], [], nonfinite
    counts, edges = np.histogram(data, bins=num_bins)
    return [int(c) for c in counts], [float(e) for e in edges], nonfinite


def _bin_tensor(tensor: torch.Tensor, num_bins: int) -> tuple[list[int], list[float], int]:
    # Binning where the tensor lives (a GPU) moves num_bins numbers to the host, not the tensor.
    import torch

    data = tensor.detach().reshape(-1)
    if not data.is_floating_point() or data.dtype in (torch.float16, torch.bfloat16):
        data = data.float()  # histc wants a float dtype; half precision loses bins
    finite = torch.isfinite(data)
    nonfinite = int(data.numel() - int(finite.sum()))
    if nonfinite:
        data = data[finite]
    if data.numel() == 0:
        return [], [], nonfinite
    low, high = float(data.min()), float(data.max())
    if low == high:  # numpy's convention for a constant: a unit-wide range around it
        low, high = low - 0.5, high + 0.5
    counts = torch.histc(data, bins=num_bins, min=low, max=high)
    step = (high - low) / num_bins
    edges = [low + i * step for i in range(num_bins)] + [high]
    return [round(c) for c in counts.tolist()], edges, nonfinite


def _compact_edges(edges: list[float]) -> list[float]:
    """Edges with 7 significant digits (a third of the bytes) where that keeps them distinct."""
    short = [float(f"{e:.7g}") for e in edges]
    if all(a < b for a, b in pairwise(short)):
        return short
    return edges
