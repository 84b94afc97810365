"""Lightning: ``Trainer(logger=GitexpLogger(project="p"))`` records the fit as a run.

Hyperparameters become the run's config, metrics history rows at Lightning's global
step, and with ``log_model=True`` (or ``"all"``) the checkpoints become artifacts of the
run.  Under DDP only rank 0 writes: the other ranks get Lightning's dummy experiment.
It works with ``lightning.pytorch`` and with the ``pytorch_lightning`` package.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:  # only the standalone package is installed (its older name)
    from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
    from pytorch_lightning.utilities import rank_zero_only

from gitexp.integrations.common import numbers, plain_mapping, start_run
from gitexp.sdk.run import Run


class GitexpLogger(Logger):  # type: ignore[misc]
    """A Lightning logger writing to a gitexp run (``gitexp.init`` takes ``init_kwargs``).

    ``log_model``: ``True`` keeps the best and last checkpoints when the fit ends,
    ``"all"`` every checkpoint as it is saved; ``False`` (the default) none.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        save_dir: str | os.PathLike[str] | None = None,
        log_model: bool | str = False,
        prefix: str = "",
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self._init_kwargs: dict[str, Any] = {"project": project, "name": name, **init_kwargs}
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._log_model = log_model
        self._prefix = prefix
        self._run: Run | None = None
        self._checkpoint_callbacks: list[Any] = []
        self._kept: set[str] = set()

    @property
    @rank_zero_experiment  # type: ignore[untyped-decorator]
    def experiment(self) -> Run:
        """The gitexp run (started on first use, on rank 0 only)."""
        if self._run is None or self._run.finished:
            self._run = start_run(self._init_kwargs)
        return self._run

    @property
    def name(self) -> str:
        """The project: Lightning files checkpoints under ``save_dir/name/version``."""
        project = self._init_kwargs.get("project")
        return str(project) if project else "lightning_logs"

    @property
    def version(self) -> str | None:
        """The run's id: checkpoints land in a folder named after the run."""
        if self._run is not None:
            return self._run.id
        if getattr(rank_zero_only, "rank", 0) != 0:
            return None  # Lightning broadcasts rank 0's checkpoint folder
        return str(self.experiment.id)

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @rank_zero_only  # type: ignore[untyped-decorator]
    def log_hyperparams(
        self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment.config.update(plain_mapping(params), allow_val_change=True)

    @rank_zero_only  # type: ignore[untyped-decorator]
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        row = numbers(metrics)
        if self._prefix:
            row = {f"{self._prefix}-{key}": value for key, value in row.items()}
        # Lightning logs a step's train and validation metrics in separate calls: an
        # explicit step merges them into one history row.
        self.experiment.log(row, step=step)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._log_model or getattr(rank_zero_only, "rank", 0) != 0:
            return
        if checkpoint_callback not in self._checkpoint_callbacks:
            self._checkpoint_callbacks.append(checkpoint_callback)
        if self._log_model == "all":
            self._keep_checkpoints(checkpoint_callback)

    @rank_zero_only  # type: ignore[untyped-decorator]
    def finalize(self, status: str) -> None:
        # As Lightning's own loggers: checkpoints are kept only from a fit that succeeded.
        if status != "success" or self._run is None:
            return
        for callback in self._checkpoint_callbacks:
            self._keep_checkpoints(callback)

    def _keep_checkpoints(self, callback: Any) -> None:
        paths = [*getattr(callback, "best_k_models", {}), getattr(callback, "last_model_path", "")]
        best = getattr(callback, "best_model_path", "")
        for path in [best, *paths]:
            if path and path not in self._kept and os.path.exists(path):
                self._kept.add(path)
                kind = "best" if path == best else "checkpoint"
                self.experiment.log_artifact(path, name=os.path.basename(path), type=kind)
