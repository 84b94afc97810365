"""``gitexp.init()`` in a Jupyter kernel: which notebook it is, and whether it is saved.

The kernel cannot read the notebook the browser shows; it can read the file on disk.
So the snapshot holds the notebook **as last saved**, and gitexp warns when the cell
that calls ``init`` is not in the saved file (it was edited, or added, after the last
save).  Edits to other cells since the last save are not detected.

The notebook's path comes from, in order: the environment variable
``GITEXP_NOTEBOOK``; ``__vsc_ipynb_file__`` (VS Code); ``__session__`` and
``JPY_SESSION_NAME`` (set by Jupyter Server 2 and by ipykernel for the kernel it
starts).  A relative path is looked up from the kernel's folder, then by its file name.
"""

from __future__ import annotations

import json
import os
import sys

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

ENV_NOTEBOOK = "GITEXP_NOTEBOOK"


def _shell() -> Any:
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def in_notebook() -> bool:
    """Whether this process is a Jupyter (ipykernel) kernel."""
    return _shell() is not None


def notebook_path() -> str | None:
    """The absolute path of the kernel's notebook file, when it can be found."""
    shell = _shell()
    namespace: dict[str, Any] = getattr(shell, "user_ns", None) or {}
    candidates = (
        os.environ.get(ENV_NOTEBOOK),
        namespace.get("__vsc_ipynb_file__"),
        namespace.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    )
    for candidate in candidates:
        if not isinstance(candidate, str) or not candidate.endswith(".ipynb"):
            continue
        for path in (candidate, os.path.basename(candidate)):
            if os.path.isfile(path):
                return os.path.abspath(path)
    return None


def _normalize(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def running_cell_unsaved(path: str) -> bool:
    """True when the cell being executed now is not in the saved notebook file."""
    shell = _shell()
    try:
        raw = shell.history_manager.input_hist_raw
        current = raw[-1] if raw else ""
        with open(path, encoding="utf-8") as handle:
            notebook = json.load(handle)
    except (AttributeError, OSError, ValueError):
        return False
    if not current.strip():
        return False
    saved = set()
    for cell in notebook.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            saved.add(_normalize("".join(source) if isinstance(source, list) else str(source)))
    return _normalize(current) not in saved


def rerun_command(path: str) -> list[str]:
    """The command recorded for a notebook run: it re-executes the notebook headless."""
    return ["jupyter", "nbconvert", "--to", "notebook", "--execute", os.path.relpath(path)]
