"""``wandb`` under ``gitexp shim install``: this folder is loaded under wandb's module
names by the shim's import hook (integrations/wandb_finder.py), so these files only lay
out wandb's modules; the names live in integrations/wandb_surface.py."""

from __future__ import annotations

from typing import Any

import gitexp
from gitexp.integrations.shim import VERSION
from gitexp.integrations.wandb_surface import (
    Artifact,
    Audio,
    Html,
    Image,
    Run,
    Settings,
    Table,
    Video,
    alert,
    current_run,
    init,
    log,
    log_artifact,
    require,
    save,
    setup,
    termerror,
    termlog,
    termwarn,
    watch,
)

Histogram = gitexp.Histogram
define_metric = gitexp.define_metric
finish = gitexp.finish
login = gitexp.login
unwatch = gitexp.unwatch
__version__ = VERSION
__gitexp_wandb_shim__ = True

__all__ = [
    "Api",
    "Artifact",
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "Run",
    "Settings",
    "Table",
    "Video",
    "__version__",
    "alert",
    "define_metric",
    "finish",
    "init",
    "log",
    "log_artifact",
    "login",
    "require",
    "save",
    "setup",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "watch",
]


def __getattr__(name: str) -> Any:
    # wandb.run / wandb.config / wandb.summary follow the current run, as in wandb.
    if name == "run":
        return current_run()
    if name in ("config", "summary", "Api"):  # Api: imported on use, as gitexp does
        return getattr(gitexp, name)
    raise AttributeError(f"module 'wandb' (gitexp's shim) has no attribute {name!r}")
