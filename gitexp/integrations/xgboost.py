"""XGBoost: ``XGBClassifier(callbacks=[GitexpXGBoostCallback()])`` or ``xgb.train(...,
callbacks=[...])``: each boosting round's evaluation results become a history row.

Keys are ``<data>-<metric>`` as XGBoost names them (``validation_0-logloss``), the step
is the round; the best round and score (with early stopping) go to the summary.
"""

from __future__ import annotations

import json
from typing import Any

from xgboost.callback import TrainingCallback

from gitexp.integrations.common import plain, plain_mapping, start_run
from gitexp.sdk.run import Run


class GitexpXGBoostCallback(TrainingCallback):  # type: ignore[misc]
    """Evaluation results per boosting round; ``init_kwargs`` go to ``gitexp.init``."""

    def __init__(self, project: str | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        self._init_kwargs: dict[str, Any] = {"project": project, **init_kwargs}
        self._run: Run | None = None

    def before_training(self, model: Any) -> Any:
        self._run = start_run(self._init_kwargs)
        try:
            params = json.loads(model.save_config())["learner"]["gradient_booster"]
            self._run.config.update({"xgboost": plain_mapping(params)}, allow_val_change=True)
        except Exception:  # the config's layout is XGBoost's own; a change costs only this
            pass
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        if self._run is not None:
            row: dict[str, Any] = {}
            for data, metrics in evals_log.items():
                for metric, history in metrics.items():
                    last = plain(history[-1]) if len(history) else None
                    if isinstance(last, list):  # with cv: [mean, std]
                        last = last[0]
                    if isinstance(last, (int, float)):
                        row[f"{data}-{metric}"] = last
            self._run.log(row, step=epoch)
        return False  # never stops the training: early stopping is XGBoost's own callback

    def after_training(self, model: Any) -> Any:
        if self._run is not None:
            for attribute in ("best_iteration", "best_score"):
                value = plain(getattr(model, attribute, None))
                if isinstance(value, (int, float)):
                    self._run.summary[attribute] = value
        return model
