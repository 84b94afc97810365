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


def _checkout_commit() -> tuple[str, bool] | None:
    """The commit (and dirtiness) of the source checkout gitexp runs from, for an editable
    install, whose stamped version would otherwise name the commit it was installed at."""
    import os
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short=9", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        status = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "gitexp"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip(), bool(status.stdout.strip())


def describe() -> str:
    """What ``gitexp --version`` prints: the version and, where known, the commit."""
    checkout = _checkout_commit()
    if checkout is not None:
        head, dirty = checkout
        changes = ", with uncommitted changes" if dirty else ""
        return f"gitexp {__version__} (running from a source checkout at commit {head}{changes})"
    commit = source_commit()
    where = f"commit {commit}" if commit else "commit unknown (not built from a git checkout)"
    if commit and ".d" in __version__.partition("+")[2]:  # setuptools-scm's dirty mark
        where += ", with uncommitted changes"
    return f"gitexp {__version__} ({where})"
