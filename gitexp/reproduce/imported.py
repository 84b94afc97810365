"""Imported runs have no code: restore, rerun and branch refuse them."""

from __future__ import annotations

from gitexp.errors import RepositoryStateError
from gitexp.read.runview import RunView


def refuse_imported(view: RunView, action: str) -> None:
    """Raise RepositoryStateError (exit 6) when ``view`` is an imported run."""
    origin = view.info.imported
    if not origin:
        return
    source = origin.get("from", "another tracker")
    if view.info.baseline:
        hint = (
            f"The source recorded commit {view.info.baseline[:10]}: "
            f"`git switch --detach {view.info.baseline[:10]}` checks that code out."
        )
    elif origin.get("commit"):
        hint = f"The source recorded commit {origin['commit']}, which this repository lacks."
    else:
        hint = "The source recorded no commit; `gitexp show` reads its config and metrics."
    raise RepositoryStateError(
        f"cannot {action} run {view.info.id}: it was imported from {source}, and an importer "
        "cannot invent code (its snapshot is empty)",
        hint,
    )
