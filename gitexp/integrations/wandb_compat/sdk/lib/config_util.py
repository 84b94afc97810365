"""``wandb.sdk.lib.config_util``: the error transformers catches around config writes."""


class ConfigError(Exception):
    """Never raised by gitexp's config; here so ``except ConfigError`` resolves."""
