"""The import hook ``gitexp shim install`` copies into a venv as ``gitexp_wandb_shim.py``.

A ``.pth`` line imports it at interpreter start; it puts one finder on
``sys.meta_path`` that answers ``import wandb`` (and ``wandb.sdk...``) with the files of
``gitexp/integrations/wandb_compat/``, loaded under wandb's names.  It imports nothing
of gitexp (a venv whose gitexp is gone or broken must still start), and it steps aside
when a real ``wandb`` is on ``sys.path``: the real package always wins.
"""

from __future__ import annotations

import sys

# Every Python start in the venv imports this module, so it imports only sys, which is
# loaded anyway: importlib.abc or typing would cost milliseconds a start. The finder is
# a plain class, the rest is imported on a lookup, and TYPE_CHECKING is spelled out
# (the type checker knows the name) rather than imported from typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import importlib.machinery
    from collections.abc import Sequence
    from types import ModuleType

MARKER = "__gitexp_wandb_shim__"  # set on the shim's wandb module, so tools can tell


def compat_root() -> str | None:
    """The folder of gitexp's wandb-compatible package, or None without gitexp."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("gitexp")  # finds, never imports, a top package
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = os.path.join(location, "integrations", "wandb_compat")
        if os.path.isfile(os.path.join(root, "__init__.py")):
            return root
    return None


def is_package(spec: importlib.machinery.ModuleSpec | None) -> bool:
    """A real module or package, not a namespace: wandb's own run folder ``wandb/`` in
    the current folder imports as an empty namespace package, and is no wandb."""
    return spec is not None and spec.origin not in (None, "namespace")


class WandbShimFinder:
    """Finds ``wandb`` and its submodules in gitexp's compatible package (a meta path
    finder: ``find_spec`` is all the import system asks of one)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "wandb" and not fullname.startswith("wandb."):
            return None
        import importlib.machinery
        import importlib.util
        import os

        if fullname == "wandb":
            if is_package(importlib.machinery.PathFinder.find_spec("wandb")):
                return None  # the real wandb is installed: it wins
        elif not getattr(sys.modules.get("wandb"), MARKER, False):
            return None  # a submodule of the real wandb
        root = compat_root()
        if root is None:
            return None
        base = os.path.join(root, *fullname.split(".")[1:])
        package = os.path.join(base, "__init__.py")
        if os.path.isfile(package):
            return importlib.util.spec_from_file_location(
                fullname, package, submodule_search_locations=[base]
            )
        if os.path.isfile(base + ".py"):
            return importlib.util.spec_from_file_location(fullname, base + ".py")
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    # By name: the copy in a venv and this module define two classes of one name.
    if not any(type(finder).__name__ == "WandbShimFinder" for finder in sys.meta_path):
        sys.meta_path.insert(0, WandbShimFinder())
