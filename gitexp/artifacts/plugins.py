"""Which DVC packages must be installed (DVC itself, the plugin a remote's storage needs),
and the install command when one is missing."""

from __future__ import annotations

import importlib.util
import sys

from gitexp.errors import RepositoryStateError

# DVC and the two packages of its data layer gitexp calls directly (they come with it).
DVC_PACKAGES = ("dvc", "dvc_data", "dvc_objects")


def dvc_missing() -> str | None:
    """The first of DVC's packages that is not installed, without importing any of them.

    A cheap check (no import) for commands that should refuse before starting work that
    will need DVC at its end (``gitexp run --out``); a broken install shows only on import.
    """
    for name in DVC_PACKAGES:
        if importlib.util.find_spec(name) is None:
            return name
    return None


def dvc_unavailable_error(problem: str) -> RepositoryStateError:
    return RepositoryStateError(
        f"DVC cannot be imported ({problem}): gitexp moves artifacts with DVC's data layer",
        f"Install it into the Python environment gitexp runs in: `{sys.executable} -m pip "
        "install 'dvc>=3.50'` (a dependency of gitexp: a broken or partial install shows "
        "here too), then run the command again.",
    )


# DVC reaches cloud storage through plugins that the base install leaves out, so that
# `pip install gitexp` stays small; each one is an extra of gitexp's (pyproject.toml).
_PLUGINS = {
    "s3": ("dvc_s3", "s3"),
    "gs": ("dvc_gs", "gs"),
    "gcs": ("dvc_gs", "gs"),
    "azure": ("dvc_azure", "azure"),
    "az": ("dvc_azure", "azure"),
    "ssh": ("dvc_ssh", "ssh"),
}


def missing_plugin(url: str) -> str | None:
    """The gitexp extra (``s3``, ``gs``...) a remote at ``url`` needs and lacks, else None."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _PLUGINS:
        return None
    module, extra = _PLUGINS[scheme]
    return extra if importlib.util.find_spec(module) is None else None


def require_plugin(name: str, url: str) -> None:
    """Fail with the install command when the remote's storage plugin is missing."""
    extra = missing_plugin(url)
    if extra is not None:
        scheme = url.partition("://")[0].lower()
        raise RepositoryStateError(
            f"the DVC remote {name!r} ({scheme}://...) needs DVC's {extra} plugin, "
            "which is not installed",
            f"Install it into this environment: pip install 'gitexp[{extra}]'",
        )
