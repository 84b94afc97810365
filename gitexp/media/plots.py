"""``gitexp.plot.*``: charts logged as a table plus a chart spec (docs/format.md, "Charts").

Each function returns a :class:`Chart`; ``gitexp.log({"roc": gitexp.plot.roc_curve(...)})``
stores the chart's table as a table file and puts the spec in the history row::

    {"_type": "chart", "chart": "roc_curve", "title": "ROC",
     "fields": {"x": "fpr", "y": "tpr", "series": "class"}, "table": {table-file reference}}

``fields`` names the table's columns the chart draws; a viewer (``gitexp report``,
``gitexp ui``) draws it, gitexp computes nothing more at read time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gitexp.media import curves
from gitexp.media.base import Media
from gitexp.media.table import Table, from_mapping
from gitexp.model.history import CHART

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink

__all__ = [
    "Chart",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "pr_curve",
    "roc_curve",
    "scatter",
]


class Chart(Media):
    """A chart of a table: what the ``gitexp.plot`` functions return."""

    __slots__ = ("fields", "kind", "table", "title")

    def __init__(self, kind: str, table: Table, fields: dict[str, str | None], title: str) -> None:
        for role, column in fields.items():
            if column is not None and column not in table.columns:
                raise ValueError(
                    f"gitexp.plot.{kind}: {role} column {column!r} is not in the table's "
                    f"columns {table.columns}"
                )
        self.kind, self.table, self.title = kind, table, str(title)
        self.fields = {role: column for role, column in fields.items() if column is not None}

    def store(self, sink: MediaSink, key: str, step: int) -> dict[str, object]:
        return {
            "_type": CHART,
            "chart": self.kind,
            "title": self.title,
            "fields": dict(self.fields),
            "table": self.table.store(sink, key, step),
        }

    def __repr__(self) -> str:
        return f"<gitexp.plot.{self.kind} {self.title!r} of {self.table!r}>"


def line(
    table: Table,
    x: str,
    y: str,
    stroke: str | None = None,
    title: str = "",
    split_table: bool = False,
) -> Chart:
    """A line of ``y`` against ``x`` (one line per value of ``stroke``)."""
    return Chart("line", table, {"x": x, "y": y, "series": stroke}, title)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> Chart:
    """Points of ``y`` against ``x``."""
    return Chart("scatter", table, {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> Chart:
    """One bar per row: ``value`` named by ``label``."""
    return Chart("bar", table, {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> Chart:
    """The distribution of one column (the viewer bins it)."""
    return Chart("histogram", table, {"value": value}, title)


def line_series(
    xs: Sequence[float] | Sequence[Sequence[float]],
    ys: Sequence[Sequence[float]],
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> Chart:
    """Several lines in one chart: ``ys[i]`` against ``xs`` (or ``xs[i]``), named ``keys[i]``."""
    ys = [list(series) for series in ys]
    names = list(keys) if keys is not None else [f"line_{i}" for i in range(len(ys))]
    if len(names) != len(ys):
        raise ValueError(f"gitexp.plot.line_series: {len(names)} keys for {len(ys)} lines")
    shared = not (len(xs) and isinstance(xs[0], Sequence))
    columns: dict[str, list[object]] = {"series": [], xname: [], "y": []}
    for index, (name, series) in enumerate(zip(names, ys, strict=True)):
        line_xs = list(xs) if shared else list(xs[index])  # type: ignore[arg-type]
        if len(line_xs) != len(series):
            raise ValueError(
                f"gitexp.plot.line_series: line {name!r} has {len(series)} values "
                f"for {len(line_xs)} x values"
            )
        columns["series"] += [str(name)] * len(series)
        columns[xname] += line_xs
        columns["y"] += series
    return Chart(
        "line_series", from_mapping(columns), {"x": xname, "y": "y", "series": "series"}, title
    )


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "",
    split_table: bool = False,
) -> Chart:
    """Counts of (actual, predicted) class pairs; ``preds`` or ``probs`` (argmax taken)."""
    if y_true is None or (preds is None) == (probs is None):
        raise ValueError("gitexp.plot.confusion_matrix needs y_true= and one of preds= or probs=")
    truth = curves.labels_of(y_true, "y_true")
    if preds is None:
        preds = curves.scores_of(probs, "probs").argmax(axis=1)
    predicted = curves.labels_of(preds, "preds")
    if class_names is None:
        top = max(int(truth.max(initial=0)), int(predicted.max(initial=0)))
        class_names = [str(i) for i in range(top + 1)]
    names = [str(name) for name in class_names]
    counts = curves.confusion(truth, predicted, len(names))
    columns: dict[str, list[object]] = {"Actual": [], "Predicted": [], "nPredictions": []}
    for i, actual in enumerate(names):
        for j, guess in enumerate(names):
            columns["Actual"].append(actual)
            columns["Predicted"].append(guess)
            columns["nPredictions"].append(int(counts[i, j]))
    fields: dict[str, str | None] = {
        "actual": "Actual",
        "predicted": "Predicted",
        "value": "nPredictions",
    }
    return Chart("confusion_matrix", from_mapping(columns), fields, title or "Confusion matrix")


def _curves(
    kind: str,
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None,
    classes_to_plot: Sequence[int] | None,
) -> tuple[dict[str, list[object]], list[str]]:
    """Per-class one-vs-rest points: ({class, x, y columns}, the classes left out)."""
    truth = curves.labels_of(y_true, "y_true")
    scores = curves.scores_of(y_probas, "y_probas")
    binary = getattr(y_probas, "ndim", None) == 1 or (
        isinstance(y_probas, Sequence) and not isinstance(y_probas[0], Sequence)
    )
    if scores.shape[0] != truth.size:
        raise ValueError(
            f"y_true has {truth.size} examples, y_probas {scores.shape[0]}: one row per example"
        )
    count = scores.shape[1]
    names = [str(name) for name in labels] if labels is not None else [str(i) for i in range(count)]
    if len(names) != count:
        raise ValueError(f"labels has {len(names)} names for {count} classes of y_probas")
    chosen = (
        list(classes_to_plot)
        if classes_to_plot is not None
        else ([1] if binary else list(range(count)))
    )
    x_name, y_name = ("fpr", "tpr") if kind == "roc_curve" else ("recall", "precision")
    columns: dict[str, list[object]] = {"class": [], x_name: [], y_name: []}
    left_out = []
    for index in chosen:
        positive = truth == index
        points = (curves.roc if kind == "roc_curve" else curves.precision_recall)(
            positive, scores[:, index]
        )
        if points is None:
            left_out.append(names[index])
            continue
        xs, ys = curves.thin(*points)
        columns["class"] += [names[index]] * len(xs)
        columns[x_name] += xs
        columns[y_name] += ys
    return columns, left_out


def _curve_chart(kind: str, columns: dict[str, list[object]], left: list[str], title: str) -> Chart:
    if left:
        warnings.warn(
            f"gitexp.plot.{kind}: no curve for class {', '.join(left)}: "
            "y_true has no example of it" + (" (or only it)" if kind == "roc_curve" else ""),
            stacklevel=3,
        )
    _class, x_name, y_name = list(columns)
    fields: dict[str, str | None] = {"x": x_name, "y": y_name, "series": "class"}
    return Chart(kind, from_mapping(columns), fields, title)


def roc_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    title: str = "ROC",
    split_table: bool = False,
) -> Chart:
    """One-vs-rest ROC curve per class: ``y_probas`` is N×classes (or N: class 1's)."""
    columns, left = _curves("roc_curve", y_true, y_probas, labels, classes_to_plot)
    return _curve_chart("roc_curve", columns, left, title)


def pr_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    title: str = "Precision v. Recall",
    split_table: bool = False,
) -> Chart:
    """One-vs-rest precision-recall curve per class (as ``roc_curve`` takes its inputs)."""
    columns, left = _curves("pr_curve", y_true, y_probas, labels, classes_to_plot)
    return _curve_chart("pr_curve", columns, left, title)
