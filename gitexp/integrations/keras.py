"""Keras 3: ``model.fit(..., callbacks=[GitexpCallback()])`` records the fit as a run.

Each epoch's metrics (and, with ``log_batch=True``, each batch's as ``batch/<name>``)
become history rows beside the optimizer's learning rate; the fit's parameters, the
optimizer's config and the model summary (its text, as Keras prints it) go to the
config, so a run shows what was trained without the code at hand.
"""

from __future__ import annotations

from typing import Any

import keras

from gitexp.integrations.common import numbers, plain, plain_mapping, start_run, warn
from gitexp.sdk.run import Run


class GitexpCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """A Keras callback writing to a gitexp run; ``init_kwargs`` go to ``gitexp.init``."""

    def __init__(self, project: str | None = None, log_batch: bool = False,
                 **init_kwargs: Any) -> None:  # fmt: skip
        super().__init__()
        self._init_kwargs: dict[str, Any] = {"project": project, **init_kwargs}
        self._log_batch = log_batch
        self._run: Run | None = None
        self._epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._run = run = start_run(self._init_kwargs)
        config: dict[str, Any] = {"fit": plain_mapping(self.params or {})}
        try:
            config["optimizer"] = plain_mapping(self.model.optimizer.get_config())
        except Exception as exc:  # a custom optimizer without get_config
            warn(f"could not read the optimizer's config: {exc}")
        try:
            config["model_params"] = int(self.model.count_params())
            config["model_summary"] = self._summary()
        except Exception as exc:  # a model not built yet has no summary
            warn(f"could not read the model summary: {exc}")
        run.config.update(config, allow_val_change=True)

    def _summary(self) -> str:
        lines: list[str] = []

        def collect(text: str, line_break: bool = True) -> None:
            lines.append(text)

        self.model.summary(print_fn=collect)
        return "\n".join(line.rstrip() for line in lines)

    def _learning_rate(self) -> float | None:
        try:
            value = plain(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:
            return None
        return value if isinstance(value, float) else None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._log_batch and self._run is not None and logs:
            row = {f"batch/{key}": value for key, value in numbers(logs).items()}
            self._run.log({**row, "batch": batch, "epoch": self._epoch})

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._run is None:
            return
        row: dict[str, Any] = {**numbers(logs or {}), "epoch": epoch}
        learning_rate = self._learning_rate()
        if learning_rate is not None:
            row["learning_rate"] = learning_rate
        self._run.log(row)
