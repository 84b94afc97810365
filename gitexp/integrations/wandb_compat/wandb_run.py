"""``wandb.wandb_run``: the run class libraries check with ``isinstance``."""

from gitexp.integrations.wandb_surface import Run

__all__ = ["Run"]
