"""gitexp's version, and the commit of gitexp's own source it was built from.

setuptools-scm writes ``gitexp/_scm_version.py`` at build time (pyproject.toml); a source
tree used without installing has none, and says so rather than guess.
"""

from __future__ import annotations

__all__ = ["__version__", "describe", "source_commit"]

try:
    from gitexp._scm_version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"


def source_commit() -> str | None:
    """The short commit id of gitexp's source, from the build's local version (``+gHASH``)."""
    _, _, local = __version__.partition("+")
    for part in local.split("."):
        if part.startswith("g") and len(part) > 4:
            return part[1:]
    return None


def describe() -> str:
    """What ``gitexp --version`` prints: the version and, where known, the commit."""
    commit = source_commit()
    where = f"commit {commit}" if commit else "commit unknown (not built from a git checkout)"
    if commit and ".d" in __version__.partition("+")[2]:  # setuptools-scm's dirty mark
        where += ", with uncommitted changes"
    return f"gitexp {__version__} ({where})"
