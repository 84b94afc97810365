"""``wandb.sdk.wandb_run``: the run class, as in ``wandb.wandb_run``."""

from gitexp.integrations.wandb_surface import Run

__all__ = ["Run"]
