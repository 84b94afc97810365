"""Hugging Face Transformers: ``Trainer(..., callbacks=[GitexpCallback()])``.

The TrainingArguments (hub tokens masked by ``to_dict`` and redacted again by the
run's config, which drops every value that looks secret) and the model's config become
the run's config; each ``on_log`` becomes a history row at the global step; the last
figures of a training (runtime, throughput, final loss) go to the summary; with
``log_checkpoints=True`` each saved checkpoint folder becomes an artifact.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback

from gitexp.integrations.common import numbers, plain_mapping, start_run
from gitexp.sdk.run import Run

# Figures the Trainer logs once, at the end: a summary, not a curve.
SUMMARY_ONLY = (
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
    "total_flos",
)


class GitexpCallback(TrainerCallback):  # type: ignore[misc]
    """A TrainerCallback writing to a gitexp run; ``init_kwargs`` go to ``gitexp.init``."""

    def __init__(
        self, project: str | None = None, log_checkpoints: bool = False, **init_kwargs: Any
    ) -> None:
        self._init_kwargs: dict[str, Any] = {"project": project, **init_kwargs}
        self._log_checkpoints = log_checkpoints
        self._run: Run | None = None

    def _setup(self, args: Any, state: Any, model: Any) -> Run | None:
        if not state.is_world_process_zero:
            return None
        if self._run is not None and not self._run.finished:
            return self._run
        kwargs = dict(self._init_kwargs)
        if not kwargs.get("name") and args.run_name and args.run_name != args.output_dir:
            kwargs["name"] = args.run_name
        self._run = run = start_run(kwargs)
        config = plain_mapping(args.to_dict())
        model_config = getattr(model, "config", None)
        if model_config is not None:
            as_dict = model_config if isinstance(model_config, dict) else model_config.to_dict()
            config["model"] = plain_mapping(as_dict)
        num_parameters = getattr(model, "num_parameters", None)
        if callable(num_parameters):
            config["model_num_parameters"] = int(num_parameters())
        run.config.update(config, allow_val_change=True)
        return run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:  # fmt: skip
        self._setup(args, state, model)

    def on_log(self, args: Any, state: Any, control: Any, model: Any = None,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:  # fmt: skip
        run = self._setup(args, state, model)
        if run is None or not logs:
            return
        values = numbers(logs)
        for key in SUMMARY_ONLY:
            if key in values:
                run.summary[key] = values.pop(key)
        if values:
            run.log(values, step=state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._log_checkpoints or self._run is None or not state.is_world_process_zero:
            return
        name = f"checkpoint-{state.global_step}"
        path = os.path.join(args.output_dir, name)
        self._run.log_artifact(path, name=name, type="checkpoint")

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None,
                     **kwargs: Any) -> None:  # fmt: skip
        run = self._setup(args, state, model)
        if run is None:
            return
        run.summary["global_step"] = int(state.global_step)
        if state.epoch is not None:
            run.summary["epoch"] = float(state.epoch)
        if state.best_metric is not None:
            run.summary["best_metric"] = float(state.best_metric)
            run.summary["best_model_checkpoint"] = state.best_model_checkpoint
