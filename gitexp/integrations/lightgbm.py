"""LightGBM: ``lgb.train(..., callbacks=[GitexpLightGBMCallback()])`` (or the sklearn
API's ``fit(..., callbacks=[...])``): each iteration's evaluation results are a row.

Keys are ``<data>-<metric>`` (``valid_0-binary_logloss``), the step is the iteration;
the training parameters become the config on the first iteration.
"""

from __future__ import annotations

from typing import Any

from gitexp.integrations.common import plain, plain_mapping, start_run
from gitexp.sdk.run import Run


class GitexpLightGBMCallback:
    """A LightGBM callback; ``init_kwargs`` go to ``gitexp.init``."""

    order = 30  # after LightGBM's own evaluation (10) and logging (20) callbacks
    before_iteration = False

    def __init__(self, project: str | None = None, **init_kwargs: Any) -> None:
        self._init_kwargs: dict[str, Any] = {"project": project, **init_kwargs}
        self._run: Run | None = None

    def __call__(self, env: Any) -> None:
        if self._run is None:
            self._run = start_run(self._init_kwargs)
            self._run.config.update(
                {"lightgbm": plain_mapping(env.params or {})}, allow_val_change=True
            )
        row: dict[str, Any] = {}
        for entry in env.evaluation_result_list or []:
            data, metric, value = entry[0], entry[1], plain(entry[2])
            if isinstance(value, (int, float)):
                row[f"{data}-{metric}"] = value
        self._run.log(row, step=int(env.iteration))
