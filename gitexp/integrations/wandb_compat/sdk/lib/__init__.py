"""``wandb.sdk.lib``: ``RunDisabled`` (Lightning checks runs against it)."""

from gitexp.integrations.wandb_surface import RunDisabled

__all__ = ["RunDisabled"]
