"""Which DVC plugin a remote's storage needs, and the install command when it is missing."""

from __future__ import annotations

import importlib.util

from gitexp.errors import RepositoryStateError

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
