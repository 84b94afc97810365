"""Folders that ML tools write their runs into, recognised by their signature.

Hydra, Weights & Biases, MLflow, Lightning, DVCLive and TensorBoard each leave a folder
per run in the work tree.  Those are the results of earlier runs, not code: a snapshot
that kept them would grow with every run and carry checkpoints around as source.  The
snapshot (record/snapshot.py) leaves out their untracked content and lists the folder
once in ``skipped`` with the reason ``tool-output:<tool>``.

A folder's name alone is never enough (``outputs/`` may be a user's own package): its
content must show the tool's layout too.  The checks look at a few entries only, and
only in folders with one of the names below, so a walk pays nothing for the rest.
"""

from __future__ import annotations

import os

TOOL_OUTPUT = "tool-output:"
TFEVENTS = b"events.out.tfevents."
TENSORBOARD = TOOL_OUTPUT + "tensorboard"
# At most this many entries are looked at below a candidate folder: a huge folder of
# something else costs a bounded look, never a walk.
_BUDGET = 64


def _entries(path: bytes) -> list[os.DirEntry[bytes]]:
    try:
        with os.scandir(path) as found:
            return list(found)
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[bytes]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _holds_below(path: bytes, names: frozenset[bytes], depth: int) -> bool:
    """Whether an entry named one of ``names`` lies at most ``depth`` levels below
    ``path`` (1: directly in it), looking at no more than _BUDGET folders."""
    level = [path]
    budget = _BUDGET
    for _ in range(depth):
        below: list[bytes] = []
        for folder in level:
            for entry in _entries(folder):
                if entry.name in names:
                    return True
                if _is_dir(entry) and budget > 0:
                    budget -= 1
                    below.append(entry.path)
        level = below
    return False


def _hydra(path: bytes) -> bool:
    # outputs/<date>/<time>/.hydra (hydra.run.dir's default layout)
    return _holds_below(path, frozenset({b".hydra"}), 3)


def _hydra_multirun(path: bytes) -> bool:
    # multirun/<date>/<time>/multirun.yaml, and .hydra in each job's folder below it
    return _holds_below(path, frozenset({b".hydra", b"multirun.yaml"}), 4)


def _wandb(path: bytes) -> bool:
    return any(
        entry.name.startswith((b"run-", b"offline-run-")) and _is_dir(entry)
        for entry in _entries(path)
    )


def _mlflow(path: bytes) -> bool:
    # mlruns/<experiment id>/meta.yaml
    return _holds_below(path, frozenset({b"meta.yaml"}), 2)


def _lightning(path: bytes) -> bool:
    return any(entry.name.startswith(b"version_") and _is_dir(entry) for entry in _entries(path))


def _dvclive(path: bytes) -> bool:
    return any(entry.name in (b"metrics.json", b"dvc.yaml", b"plots") for entry in _entries(path))


_SIGNATURES = {
    b"outputs": ("hydra", _hydra),
    b"multirun": ("hydra", _hydra_multirun),
    b"wandb": ("wandb", _wandb),
    b"mlruns": ("mlflow", _mlflow),
    b"lightning_logs": ("lightning", _lightning),
    b"dvclive": ("dvclive", _dvclive),
}


def tool_output(root: bytes, rel: bytes) -> str | None:
    """``tool-output:<tool>`` when the folder ``rel`` (from ``root``) is a tool's output
    folder by its name and content; None otherwise."""
    known = _SIGNATURES.get(rel.rpartition(b"/")[2])
    if known is None:
        return None  # the common case: one dictionary lookup per folder
    tool, matches = known
    path = os.path.join(root, rel)
    return TOOL_OUTPUT + tool if matches(path) else None


def holds_event_files(entries: list[os.DirEntry[bytes]]) -> bool:
    """Whether a folder's entries include TensorBoard event files (its log folder)."""
    return any(entry.name.startswith(TFEVENTS) for entry in entries)
