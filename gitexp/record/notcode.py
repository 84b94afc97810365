"""What a snapshot leaves out as no code: outputs, tools' output folders, large files.

The size limits (``too-large``, ``binary``) come first; the rest is the folders ML
tools write their runs into, recognised by their signature.  Hydra, Weights & Biases,
MLflow, Lightning, DVCLive and TensorBoard each leave a folder per run in the work
tree.  Those are the results of earlier runs, not code: a snapshot that kept them would
grow with every run and carry checkpoints around as source.  The snapshot
(record/snapshot.py) leaves out their untracked content and lists the folder once in
``skipped`` with the reason ``tool-output:<tool>``.

A folder's name alone is never enough (``outputs/`` may be a user's own package): its
content must show the tool's layout too.  The checks look at a few entries only, and
only in folders with one of the names below, so a walk pays nothing for the rest.
"""

from __future__ import annotations

import os

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.git.repo import GitRepo

OUTPUT = "output"  # a path named by `gitexp run --out` or `gitexp.log_artifact`
BINARY = "binary"
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
# Untracked files over this size whose first 8000 bytes hold a NUL (git's own test for
# binary content) are data or weights, not code: left out as "binary".
DEFAULT_MAX_BINARY_SIZE = 1024 * 1024
BINARY_PEEK = 8000
TOOL_OUTPUT = "tool-output:"
TFEVENTS = b"events.out.tfevents."
TENSORBOARD = TOOL_OUTPUT + "tensorboard"
# At most this many folders are listed below a candidate folder, and of each folder's
# subfolders the first few are entered: one run's folder shows the layout, and a huge
# folder of something else costs a bounded look, never a walk.
_BUDGET = 64
_FANOUT = 16


def parse_size(text: str) -> int:
    """``10m`` / ``512k`` / ``1g`` / ``1048576`` to bytes (git's own size suffixes)."""
    text = text.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    return int(float(number) * scale)


def max_file_size(repo: GitRepo) -> int:
    return _configured_size(repo, "GITEXP_MAX_FILE_SIZE", "maxFileSize", DEFAULT_MAX_FILE_SIZE)


def max_binary_size(repo: GitRepo) -> int:
    return _configured_size(
        repo, "GITEXP_MAX_BINARY_SIZE", "maxBinarySize", DEFAULT_MAX_BINARY_SIZE
    )


def _configured_size(repo: GitRepo, variable: str, key: str, default: int) -> int:
    configured = os.environ.get(variable) or repo.config_value("gitexp", key)
    if configured:
        try:
            return parse_size(configured)
        except ValueError:
            pass
    return default


def read_unless_binary(abspath: bytes) -> bytes | None:
    """A file's bytes, or None when its start holds a NUL: a binary file is not read
    past its first 8000 bytes."""
    with open(abspath, "rb") as handle:
        head = handle.read(BINARY_PEEK)
        if b"\0" in head:
            return None
        return head + handle.read()


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
    ``path`` (1: directly in it), listing no more than _BUDGET folders, depth first."""
    budget = [_BUDGET]

    def look(folder: bytes, left: int) -> bool:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        below: list[bytes] = []
        for entry in _entries(folder):
            if entry.name in names:
                return True
            if left > 1 and len(below) < _FANOUT and _is_dir(entry):
                below.append(entry.path)
        return any(look(sub, left - 1) for sub in below)

    return look(path, depth)


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
