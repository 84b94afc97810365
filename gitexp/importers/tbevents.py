"""TensorBoard event files as history rows: for ``gitexp import tensorboard`` and for a
run that syncs its own event files (``init(sync_tensorboard=True)``, ``gitexp run
--tensorboard DIR``).

Read with the ``tensorboard`` package's ``EventAccumulator`` (pure Python with protobuf,
no TensorFlow): lighter than tbparse, which needs pandas on top of the same package.
Scalars become values, histograms gitexp's ``histogram`` values (re-binned, below), text
becomes strings.  gitexp has no image ``_type`` yet: an import keeps each image as a file
of the run (``media/<tag>/<step>.png``), a run's own sync leaves them out with a note.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from gitexp.errors import UsageError
from gitexp.importers.write import ImportedRun
from gitexp.model.record import FINISHED

EVENT_PREFIX = "events.out.tfevents."
TEXT_SUFFIX = "/text_summary"
HISTOGRAM_BINS = 64  # as gitexp.Histogram's default
# Folders a walk for event files never enters: environments, caches, git's own.
_NOT_ENTERED = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox"}


def missing_package() -> UsageError:
    return UsageError(
        "reading TensorBoard event files needs the tensorboard package, which is not installed",
        "Install it: pip install tensorboard (TensorFlow is not needed).",
    )


def event_folders(root: str) -> Iterator[str]:
    """Every folder under ``root`` (itself included) holding event files, sorted."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_ENTERED)
        if any(name.startswith(EVENT_PREFIX) for name in files):
            found.append(folder)
    yield from sorted(found)


def newest_event_time(folder: str) -> float:
    times = [
        os.path.getmtime(os.path.join(folder, name))
        for name in os.listdir(folder)
        if name.startswith(EVENT_PREFIX)
    ]
    return max(times, default=0.0)


def read_folder(folder: str) -> tuple[list[dict[str, Any]], float | None, float | None, list[str]]:
    """The rows of one folder's event files, merged by step; first and last wall times,
    and notes on what was left out."""
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea_mod
    except ImportError:
        raise missing_package() from None
    accumulator = ea_mod.EventAccumulator(folder, size_guidance={kind: 0 for kind in _KINDS})
    accumulator.Reload()
    tags = accumulator.Tags()
    rows: dict[int, dict[str, Any]] = {}
    times: list[float] = []

    def put(step: int, wall: float, key: str, value: Any) -> None:
        row = rows.setdefault(int(step), {})
        row[key] = value
        row["_time"] = max(float(wall), row.get("_time", 0.0))
        times.append(float(wall))

    for tag in tags.get("scalars", []):
        for event in accumulator.Scalars(tag):
            put(event.step, event.wall_time, tag, float(event.value))
    for tag in tags.get("histograms", []):
        for event in accumulator.Histograms(tag):
            put(event.step, event.wall_time, tag, rebin(event.histogram_value))
    notes: list[str] = []
    for tag in tags.get("tensors", []):
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        for event in accumulator.Tensors(tag):
            value = _tensor_value(event.tensor_proto, plugin)
            if value is not None:
                # PyTorch's writer names a text tag ``<tag>/text_summary``.
                put(event.step, event.wall_time, tag.removesuffix(TEXT_SUFFIX), value)
    first = min(times) if times else 0.0
    ordered = [
        {"_step": step, **rows[step], "_runtime": max(0.0, rows[step]["_time"] - first)}
        for step in sorted(rows)
    ]
    return ordered, (min(times) if times else None), (max(times) if times else None), notes


def images(folder: str) -> dict[str, bytes]:
    """The folder's images as ``{"media/<tag>/<step>.png": encoded image}``."""
    from tensorboard.backend.event_processing import event_accumulator as ea_mod

    accumulator = ea_mod.EventAccumulator(folder, size_guidance={"images": 0})
    accumulator.Reload()
    found: dict[str, bytes] = {}
    for tag in accumulator.Tags().get("images", []):
        parts = [p if p not in ("", ".", "..") else "_" for p in tag.split("/")]
        for event in accumulator.Images(tag):
            found[f"media/{'/'.join(parts)}/{event.step}.png"] = event.encoded_image_string
    return found


def image_note(folder: str) -> list[str]:
    """For a run's own sync: which image tags it leaves out."""
    names = sorted({path.split("/", 1)[1].rsplit("/", 1)[0] for path in images(folder)})
    if not names:
        return []
    return [f"left out the images of {', '.join(names[:3])}: gitexp has no image values yet"]


_KINDS = ("scalars", "histograms", "tensors", "images", "compressedHistograms", "audio")


def _tensor_value(proto: Any, plugin: str) -> Any:
    """A text summary as its string, a TF2 scalar as its number; anything else None."""
    from tensorboard.util import tensor_util

    array = tensor_util.make_ndarray(proto)
    if plugin == "text":
        items = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
                 for item in array.reshape(-1).tolist()]  # fmt: skip
        return "\n".join(items)
    if plugin == "scalars" and array.size == 1:
        return float(array.reshape(-1)[0])
    return None


def rebin(histogram: Any) -> dict[str, Any]:
    """A TensorBoard histogram (bucket right edges and counts) as gitexp's histogram:
    ``HISTOGRAM_BINS`` equal-width bins from its minimum to its maximum, each TensorBoard
    bucket's count put in the bin holding the bucket's centre (clipped to the range)."""
    low, high = float(histogram.min), float(histogram.max)
    limits = list(histogram.bucket_limit)
    counts_in = list(histogram.bucket)
    if not counts_in or sum(counts_in) == 0:
        return {"_type": "histogram", "bins": [], "counts": []}
    if high <= low:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    previous = low
    for limit, count in zip(limits, counts_in, strict=False):
        right = min(max(float(limit), low), high)
        centre = (max(previous, low) + right) / 2
        previous = right
        if count:
            index = min(HISTOGRAM_BINS - 1, max(0, int((centre - low) / width)))
            counts[index] += round(float(count))
    edges = [float(f"{low + i * width:.7g}") for i in range(HISTOGRAM_BINS + 1)]
    if len(set(edges)) != len(edges):
        edges = [low + i * width for i in range(HISTOGRAM_BINS + 1)]
    return {"_type": "histogram", "bins": edges, "counts": counts}


def import_logdir(logdir: str) -> list[ImportedRun]:
    """One run per folder of ``logdir`` holding event files."""
    if not os.path.isdir(logdir):
        raise UsageError(
            f"{logdir} is not a folder",
            "Name a TensorBoard log folder (the one given to --logdir).",
        )
    root = os.path.abspath(logdir)
    runs: list[ImportedRun] = []
    for folder in event_folders(root):
        rows, first, last, notes = read_folder(folder)
        media = images(folder)
        relative = os.path.relpath(folder, root)
        name = os.path.basename(root) if relative == "." else relative.replace(os.sep, "/")
        events = sorted(n for n in os.listdir(folder) if n.startswith(EVENT_PREFIX))
        start = first if first is not None else newest_event_time(folder)
        runs.append(
            ImportedRun(
                source="tensorboard",
                # The first event file's name holds its creation time, host and process:
                # the same run folder read from another place is the same run.
                original_id=f"{name}/{events[0]}",
                path=folder,
                name=name,
                start=start,
                end=last if last is not None else start,
                status=FINISHED,
                rows=rows,
                notes_for_user=notes,
                files=media,
            )
        )
    return runs
