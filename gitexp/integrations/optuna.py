"""Optuna: ``study.optimize(objective, callbacks=[GitexpOptunaCallback("accuracy")])``.

For a study the script drives itself (``gitexp sweep --method bayes`` is gitexp's own
search): each finished trial becomes one run, its parameters the config, its value the
summary under ``metric_name``, its intermediate values (``trial.report``) the history,
and the study's name the run's group, so ``gitexp ls --where group=...`` lists a study.

When a run is already active (the script called ``gitexp.init``, or it runs under
``gitexp run``), trials are rows of that run instead: one run cannot hold others.
"""

from __future__ import annotations

from typing import Any

from gitexp.integrations.common import plain, plain_mapping, warn
from gitexp.sdk.session import current, init


class GitexpOptunaCallback:
    """Records each finished trial; ``init_kwargs`` (project, tags, ...) go to ``init``."""

    def __init__(self, metric_name: str | list[str] = "value", **init_kwargs: Any) -> None:
        self._names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
        self._init_kwargs = init_kwargs
        self._warned = False

    def _values(self, trial: Any) -> dict[str, Any]:
        values = trial.values or []
        if len(values) != len(self._names):
            names = [f"{self._names[0]}_{i}" for i in range(len(values))] if values else []
        else:
            names = self._names
        return {name: plain(value) for name, value in zip(names, values, strict=True)}

    def __call__(self, study: Any, trial: Any) -> None:
        state = str(getattr(trial.state, "name", trial.state)).lower()
        params = plain_mapping(trial.params)
        values = self._values(trial)
        active = current()
        if active is not None and not active.finished:
            if not self._warned:
                self._warned = True
                warn("a run is active: each Optuna trial is logged as a row of it")
            active.log({"trial": trial.number, "state": state, **values, **params})
            return
        kwargs = {"name": f"{study.study_name}-trial-{trial.number}", **self._init_kwargs}
        kwargs.setdefault("group", study.study_name)
        config = {**params, "optuna": {"study": study.study_name, "trial": trial.number}}
        run = init(config=config, reinit=True, **kwargs)
        for step, value in sorted(trial.intermediate_values.items()):
            run.log({self._names[0]: plain(value)}, step=int(step))
        for key, value in values.items():
            run.summary[key] = value
        run.summary["trial_state"] = state
        # A pruned or failed trial is a run that ended early, not a failed script.
        run.finish(quiet=True)
