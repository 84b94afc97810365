"""Accelerate: ``Accelerator(log_with=GitexpTracker(run_name="baseline"))``.

``accelerator.init_trackers(project, config=...)`` stores the config,
``accelerator.log(values, step=...)`` writes history rows, ``accelerator.end_training()``
finishes the run; only the main process records (``main_process_only``).
"""

from __future__ import annotations

from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process

from gitexp.integrations.common import numbers, plain_mapping, start_run
from gitexp.sdk.run import Run


class GitexpTracker(GeneralTracker):  # type: ignore[misc]
    """A tracker for Accelerate; ``init_kwargs`` (project, tags, ...) go to ``gitexp.init``."""

    name = "gitexp"
    requires_logging_directory = False
    main_process_only = True

    def __init__(self, run_name: str | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        self.run_name = run_name
        self._init_kwargs: dict[str, Any] = {"name": run_name, **init_kwargs}
        self.run: Run | None = None

    @on_main_process  # type: ignore[untyped-decorator]
    def start(self) -> None:
        self.run = start_run(self._init_kwargs)

    @property
    def tracker(self) -> Run | None:
        return self.run

    @on_main_process  # type: ignore[untyped-decorator]
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.config.update(plain_mapping(values), allow_val_change=True)

    @on_main_process  # type: ignore[untyped-decorator]
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        if self.run is not None:
            self.run.log(numbers(values), step=step)

    @on_main_process  # type: ignore[untyped-decorator]
    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
