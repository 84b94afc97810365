"""The numbers behind ``gitexp.plot.confusion_matrix``, ``.roc_curve`` and ``.pr_curve``.

Computed with numpy alone (no scikit-learn): a training script logging a curve must not
pull in a second machine-learning library.  Scores are swept from the highest down; each
distinct score is one threshold, so tied scores move a curve by one diagonal step.
"""

from __future__ import annotations

from typing import Any

MAX_POINTS = 1000  # per class: a curve of a million predictions stays a small table


def labels_of(values: Any, what: str) -> Any:
    """Class indexes (a 1-D int array) from a list, an array or a tensor."""
    import numpy as np

    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{what} needs one class index per example, got shape {array.shape}")
    whole = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.number) and bool(np.all(array == np.round(array)))
    )
    if array.size and not whole:
        raise TypeError(f"{what} needs class indexes (ints), got {array.dtype} values")
    return array.astype(np.int64)


def scores_of(values: Any, what: str) -> Any:
    """Class probabilities as an N×C float array (a 1-D array: the positive class's)."""
    import numpy as np

    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"{what} needs N×classes probabilities, got shape {array.shape}")
    return array


def confusion(y_true: Any, preds: Any, classes: int) -> Any:
    """counts[i, j]: how many examples of class i were predicted as class j."""
    import numpy as np

    if y_true.shape != preds.shape:
        raise ValueError(
            f"y_true has {y_true.size} examples, preds {preds.size}: give one of each per example"
        )
    for name, array in (("y_true", y_true), ("preds", preds)):
        if array.size and (array.min() < 0 or array.max() >= classes):
            raise ValueError(
                f"{name} holds a class index outside 0..{classes - 1} "
                f"(class_names has {classes} names)"
            )
    flat = np.bincount(y_true * classes + preds, minlength=classes * classes)
    return flat.reshape(classes, classes)


def _sweep(positive: Any, scores: Any) -> tuple[Any, Any, Any]:
    """False and true positives counted at each distinct score, from the highest down."""
    import numpy as np

    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positive[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(hits)[last_of_each]
    fps = last_of_each + 1 - tps
    return fps, tps, ranked[last_of_each]


def roc(positive: Any, scores: Any) -> tuple[Any, Any] | None:
    """(false positive rates, true positive rates) from (0, 0) to (1, 1); None when the
    class has no positive or no negative example (the rates are undefined)."""
    import numpy as np

    fps, tps, _thresholds = _sweep(positive, scores)
    if tps[-1] == 0 or fps[-1] == 0:
        return None
    return np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1]


def precision_recall(positive: Any, scores: Any) -> tuple[Any, Any] | None:
    """(recalls, precisions) from recall 0 (precision 1) up; None without positives."""
    import numpy as np

    fps, tps, _thresholds = _sweep(positive, scores)
    if tps[-1] == 0:
        return None
    return np.r_[0.0, tps / tps[-1]], np.r_[1.0, tps / (tps + fps)]


def thin(xs: Any, ys: Any, limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most ``limit`` points, evenly spaced along the curve, both ends kept."""
    import numpy as np

    if xs.size > limit:
        keep = np.unique(np.linspace(0, xs.size - 1, limit).round().astype(np.int64))
        xs, ys = xs[keep], ys[keep]
    return [float(x) for x in xs], [float(y) for y in ys]
