"""scikit-learn: ``log_estimator(est, X_test, y_test)`` after ``est.fit(...)``.

The estimator's parameters become the config; its scores on the test data go to the
summary (accuracy, precision, recall and F1 for a classifier, with the confusion matrix
as a list of rows beside its labels; R², MAE and MSE for a regressor).  A classifier's
confusion matrix is also logged as a ``gitexp.plot.confusion_matrix`` chart under
``confusion_matrix_chart``, which ``gitexp report`` and ``gitexp ui`` draw.
"""

from __future__ import annotations

from typing import Any

from gitexp.integrations.common import plain, plain_mapping, start_run
from gitexp.sdk.run import Run


def log_estimator(
    estimator: Any, X_test: Any, y_test: Any, *, run: Run | None = None, **init_kwargs: Any
) -> dict[str, Any]:
    """Record ``estimator`` (fitted) and its scores; returns the scores it recorded.

    Writes to ``run``, else the active run, else one started with ``init_kwargs``.
    """
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    run = run or start_run(init_kwargs)
    config = {
        "estimator": type(estimator).__name__,
        "params": plain_mapping(estimator.get_params(deep=False)),
    }
    run.config.update(config, allow_val_change=True)
    predicted = estimator.predict(X_test)
    scores: dict[str, Any] = {"score": estimator.score(X_test, y_test)}
    if is_classifier(estimator):
        labels = list(getattr(estimator, "classes_", []))
        # "binary" scores the label 1; other pairs (strings) and more classes: the mean
        average = "binary" if len(labels) == 2 and 1 in labels else "macro"
        scores["accuracy"] = metrics.accuracy_score(y_test, predicted)
        for name, score in (
            ("precision", metrics.precision_score),
            ("recall", metrics.recall_score),
            ("f1", metrics.f1_score),
        ):
            scores[name] = score(y_test, predicted, average=average, zero_division=0)
        matrix = metrics.confusion_matrix(y_test, predicted, labels=labels or None)
        scores["confusion_matrix"] = matrix.tolist()
        scores["confusion_matrix_labels"] = [plain(label) for label in labels]
        _log_chart(run, labels, y_test, predicted)
    elif is_regressor(estimator):
        scores["r2"] = metrics.r2_score(y_test, predicted)
        scores["mae"] = metrics.mean_absolute_error(y_test, predicted)
        scores["mse"] = metrics.mean_squared_error(y_test, predicted)
    recorded = {key: plain(value) for key, value in scores.items()}
    for key, value in recorded.items():
        run.summary[key] = value
    return recorded


def _log_chart(run: Run, labels: list[Any], y_test: Any, predicted: Any) -> None:
    """The confusion matrix as a chart the views draw (the summary keeps the plain list:
    readers of 0.2 and ``gitexp compare`` see it).  Labels may be any values; the chart
    takes class indices, so each is mapped to its place in ``classes_``."""
    from gitexp.media.plots import confusion_matrix

    index = {plain(label): i for i, label in enumerate(labels)}
    try:
        truth = [index[plain(v)] for v in y_test]
        guesses = [index[plain(v)] for v in predicted]
    except (KeyError, TypeError):  # a label outside classes_: the plain matrix says it all
        return
    names = [str(plain(label)) for label in labels]
    chart = confusion_matrix(y_true=truth, preds=guesses, class_names=names)
    run.log({"confusion_matrix_chart": chart})
