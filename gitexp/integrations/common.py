"""What every integration shares: the run it writes to, and values made plain.

Frameworks hand over their own objects (enums, paths, tensors, callables, nested
argument classes); a config or summary keeps only what JSON can say, so each value is
made plain here once, and whatever has no plain form is kept as its text rather than
dropped or allowed to stop the training.
"""

from __future__ import annotations

import enum
import os
import warnings
from collections.abc import Mapping
from typing import Any

from gitexp.sdk.run import Run
from gitexp.sdk.session import current, init

_MAX_DEPTH = 8  # deeper nesting is a framework's internal object, kept as text


def start_run(init_kwargs: Mapping[str, Any]) -> Run:
    """The active run, or a new one started with ``init_kwargs`` (as ``gitexp.init``)."""
    active = current()
    if active is not None and not active.finished:
        return active
    return init(**dict(init_kwargs))


def plain(value: object, depth: int = 0) -> object:
    """``value`` as JSON can hold it: scalars, lists and string-keyed dicts; else text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, depth)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:  # numpy/torch scalars
        try:
            return plain(item(), depth + 1)
        except Exception:
            return str(value)
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", str(value))
    return str(value)


def plain_mapping(values: Mapping[Any, Any]) -> dict[str, Any]:
    """A config-ready dict: string keys, plain values."""
    return {str(k): plain(v) for k, v in values.items()}


def numbers(values: Mapping[Any, Any]) -> dict[str, float | int]:
    """The numeric entries of a framework's metrics (tensors and numpy scalars included)."""
    kept: dict[str, float | int] = {}
    for key, value in values.items():
        value = plain(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kept[str(key)] = value
    return kept


def warn(message: str) -> None:
    """A problem of the tracking, never of the training: said once, training goes on."""
    warnings.warn(f"gitexp: {message}", stacklevel=3)
