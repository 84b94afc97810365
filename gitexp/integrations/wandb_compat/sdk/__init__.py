"""``wandb.sdk``: the names libraries import from it."""

from gitexp.integrations.wandb_surface import Artifact, init

__all__ = ["Artifact", "init"]
