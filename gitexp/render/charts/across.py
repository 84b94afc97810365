"""One value per run: the table that parallel coordinates, scatter plots and importance
read (config keys and a metric's summary value as columns, runs as rows)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gitexp.model import values as valuesmod


@dataclass
class Table:
    """Runs as rows: their labels and colours, and one list of values per column key."""

    labels: list[str]
    colors: list[str]
    columns: dict[str, list[object]] = field(default_factory=dict)


def scalar(value: object) -> object:
    """A cell: numbers, booleans and strings as they are; NaN and infinities, lists and
    mappings as missing (None): none of them is a point on an axis."""
    if isinstance(value, (bool, str)):
        return value
    if valuesmod.is_number(value):
        number = float(value)
        return value if math.isfinite(number) else None
    return None


def varying_keys(configs: Sequence[Mapping[str, object]]) -> list[str]:
    """The flattened config keys whose (scalar) value differs between the runs, in the
    order they first appear: what could explain a difference in a metric."""
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    out = []
    for key in keys:
        cells = [scalar(config.get(key)) for config in configs]
        if any(c is not None for c in cells) and len({repr(c) for c in cells}) > 1:
            out.append(key)
    return out


def table(
    labels: Sequence[str],
    colors: Sequence[str],
    configs: Sequence[Mapping[str, object]],
    summaries: Sequence[Mapping[str, object]],
    config_keys: Sequence[str],
    metrics: Sequence[str],
) -> Table:
    """Config keys (flattened) and metrics (the summary value) as columns."""
    out = Table(list(labels), list(colors))
    for key in config_keys:
        out.columns[key] = [scalar(config.get(key)) for config in configs]
    for metric in metrics:
        out.columns[metric] = [scalar(summary.get(metric)) for summary in summaries]
    return out


def numbers(cells: Sequence[object]) -> list[float | None]:
    """A column as numbers: booleans as 0/1; strings and missing cells as None."""
    out: list[float | None] = []
    for cell in cells:
        if isinstance(cell, (bool, int, float)):  # booleans as 0/1
            out.append(float(cell))
        else:
            out.append(None)
    return out


def is_categorical(cells: Sequence[object]) -> bool:
    """A column with any string (or boolean) in it is drawn with one tick per value."""
    return any(isinstance(c, (str, bool)) for c in cells)


def run_labels(names: Sequence[str], short_ids: Sequence[str]) -> list[str]:
    """Legend labels: a run's name, with its short id where another run has the name."""
    return [
        f"{name} ({short})" if names.count(name) > 1 else name
        for name, short in zip(names, short_ids, strict=True)
    ]


def for_importance(
    configs: Sequence[Mapping[str, object]],
    summaries: Sequence[Mapping[str, object]],
    metric: str,
    keys: Sequence[str] | None = None,
) -> tuple[dict[str, list[object]], list[object]]:
    """(config columns, the metric's values): ``keys``, or the keys that vary."""
    chosen = list(keys) if keys else varying_keys(configs)
    columns = {key: [scalar(config.get(key)) for config in configs] for key in chosen}
    return columns, [scalar(summary.get(metric)) for summary in summaries]
