"""The report's runs loaded through a per-commit cache of their thinned curves.

A report draws each run's curves thinned to a few hundred points, but building them
means reading every history row (a hundred runs of 10,000 steps: a million rows, most of
the report's time).  A run's commit never changes, so what was drawn from it once is
kept: ``<git common dir>/gitexp/cache/series/<commit>.json`` holds the run's metric names
and, per number of points asked for, each curve as :func:`gitexp.render.series.thin`
gave it (system metrics also whole: their panel thins them its own way), its histogram
series and its media references.  The cache is local (never pushed; docs/format.md,
"Local files"), written by one atomic rename, and read only when its format, commit and
every field check out: anything else is ignored and written anew.  Running runs are never
cached (their commit moves on).  Only what a report draws without the whole history
comes from it: grouped curves and markdown reports read the rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gitexp.git.repo import GitRepo
from gitexp.model.record import RUNNING
from gitexp.read.listing import RunEntry, collector_paused
from gitexp.read.runview import load_run
from gitexp.render import bundle as bundlemod
from gitexp.render import series as seriesmod

FORMAT = 1  # bumped whenever splitting or thinning would draw a curve otherwise
SYSTEM_PREFIX = "system/"
MAX_BUDGETS = 4  # points-per-curve entries kept per run (each run count asks for its own)
_AXES = ("step", "time", "wall", "value")


def folder(repo: GitRepo) -> str:
    return os.path.join(repo.commondir, "gitexp", "cache", "series")


def load(
    repo: GitRepo, entries: Sequence[RunEntry], every: Collection[bytes] = ()
) -> tuple[list[bundlemod.RunData], int]:
    """The runs, with their curves thinned for the report, and the points per curve
    (:func:`gitexp.render.bundle.points_budget` of the runs and their metrics).
    ``every``: the commits of all runs in the repository, when known: the cache files of
    other commits (runs deleted, or moved on by an edit) are then removed."""
    with collector_paused():
        found = _load(repo, entries)
    if every:
        prune(repo, {commit.decode() for commit in every})
    return found


def prune(repo: GitRepo, keep: Collection[str]) -> None:
    """Remove the cache files of commits not in ``keep``, once there are more files than
    runs (one listing of the folder otherwise); what cannot be removed stays."""
    try:
        names = os.listdir(folder(repo))
    except OSError:
        return
    if len(names) <= len(keep):
        return
    for name in names:
        if name.removesuffix(".json") not in keep:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder(repo), name))


def _load(repo: GitRepo, entries: Sequence[RunEntry]) -> tuple[list[bundlemod.RunData], int]:
    loaded: list[bundlemod.RunData | None] = []
    cached: list[dict[str, object] | None] = []
    for entry in entries:
        found = None if entry.status.startswith(RUNNING) else read(repo, entry.commit)
        cached.append(found)
        loaded.append(bundlemod.load_data(repo, entry) if found is None else None)
    names: dict[str, None] = {}
    for data, found in zip(loaded, cached, strict=True):
        names.update(dict.fromkeys(data.scalars if data is not None else _names(found)))
    budget = bundlemod.points_budget(len(entries), len(names))
    runs: list[bundlemod.RunData] = []
    for entry, data, found in zip(entries, loaded, cached, strict=True):
        thinned = None if found is None else _thinned_at(found, budget)
        if found is not None and thinned is not None:
            runs.append(_from_cache(repo, entry, found, thinned, budget))
            continue
        if data is None:  # cached, but for another number of points
            data = bundlemod.load_data(repo, entry)
        data.thinned = {k: seriesmod.thin(s, budget) for k, s in data.scalars.items()}
        data.thinned_points = budget
        # A running run (here, or pulled while another machine records it) gets no file:
        # its commit moves on, and a cache of it is never read (see above).
        if not data.live and not entry.status.startswith(RUNNING):
            write(repo, entry.commit, data, budget, found)
        runs.append(data)
    return runs, budget


def _names(found: Mapping[str, object] | None) -> list[str]:
    names = found.get("scalars") if found is not None else None
    return names if isinstance(names, list) else []


def _thinned_at(found: Mapping[str, object], budget: int) -> dict[str, object] | None:
    budgets = found["thinned"]
    entry = budgets.get(str(budget)) if isinstance(budgets, dict) else None
    return entry if isinstance(entry, dict) else None


def _from_cache(
    repo: GitRepo,
    entry: RunEntry,
    found: Mapping[str, object],
    thinned: Mapping[str, object],
    budget: int,
) -> bundlemod.RunData:
    whole = found["whole"]
    assert isinstance(whole, dict)  # read() checked it
    curves = {name: _series(thinned[name]) for name in _names(found)}
    scalars = {name: _series(whole[name]) if name in whole else s for name, s in curves.items()}
    histograms = {
        name: seriesmod.RunHistograms(*columns)
        for name, columns in _mapping(found["histograms"]).items()
    }
    media = {
        key: [(step, ref) for step, ref in pairs] for key, pairs in _mapping(found["media"]).items()
    }
    data = bundlemod.RunData(load_run(repo, entry), scalars, histograms, False, media)
    data.thinned, data.thinned_points = curves, budget
    return data


def _mapping(value: object) -> dict[str, Any]:
    """A field of the cache file as JSON gave it (read() checked its shape)."""
    return value  # type: ignore[return-value]


def _series(columns: object) -> seriesmod.Series:
    return seriesmod.Series(*columns)  # type: ignore[misc]  # read() checked: four lists


def _series_json(found: seriesmod.Series) -> list[list[object]]:
    return [found.step, found.time, found.wall, found.value]  # type: ignore[list-item]


def read(repo: GitRepo, commit: bytes) -> dict[str, object] | None:
    """The cache file of ``commit``, or None where there is none or it does not check out."""
    path = os.path.join(folder(repo), commit.decode() + ".json")
    try:
        with open(path, "rb") as handle:
            found = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return found if _valid(found, commit.decode()) else None


def _valid(found: object, commit: str) -> bool:
    """The shape :func:`write` writes, checked to the last value: a damaged or foreign
    file must not put wrong numbers into a report."""
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        return False
    if found.get("commit") != commit:
        return False
    names, thinned, whole = found.get("scalars"), found.get("thinned"), found.get("whole")
    if not isinstance(names, list) or not all(type(name) is str for name in names):
        return False
    if not isinstance(thinned, dict) or not isinstance(whole, dict):
        return False
    for curves in thinned.values():
        if not isinstance(curves, dict) or set(curves) != set(names):
            return False
        if not all(_valid_series(s) for s in curves.values()):
            return False
    if not set(whole) <= set(names) or not all(_valid_series(s) for s in whole.values()):
        return False
    return _valid_histograms(found.get("histograms")) and _valid_media(found.get("media"))


def _valid_series(columns: object) -> bool:
    if not isinstance(columns, list) or len(columns) != len(_AXES):
        return False
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return False
    step, time, wall, value = columns
    return (
        set(map(type, step)) <= {int}
        and set(map(type, time)) <= {float}
        and set(map(type, wall)) <= {float}
        and set(map(type, value)) <= {float, type(None)}
    )


def _valid_histograms(found: object) -> bool:
    if not isinstance(found, dict):
        return False
    for columns in found.values():
        if not isinstance(columns, list) or len(columns) != 3:
            return False
        steps, edges, counts = columns
        if not (isinstance(steps, list) and isinstance(edges, list) and isinstance(counts, list)):
            return False
        if not len(steps) == len(edges) == len(counts) or set(map(type, steps)) - {int}:
            return False
        for rows in (edges, counts):
            if not all(isinstance(r, list) and set(map(type, r)) <= {float} for r in rows):
                return False
    return True


def _valid_media(found: object) -> bool:
    if not isinstance(found, dict):
        return False
    return all(
        isinstance(pairs, list)
        and all(isinstance(p, list) and len(p) == 2 and type(p[0]) is int for p in pairs)
        for pairs in found.values()
    )


def write(
    repo: GitRepo,
    commit: bytes,
    data: bundlemod.RunData,
    budget: int,
    earlier: Mapping[str, object] | None,
) -> None:
    """Add ``data``'s curves thinned to ``budget`` points to the cache of ``commit``
    (keeping the latest few other budgets); a cache that cannot be written only costs
    the next report its speed."""
    budgets: dict[str, object] = {}
    before = earlier.get("thinned") if earlier is not None else None
    if isinstance(before, dict):
        kept = [(k, v) for k, v in before.items() if k != str(budget)]
        budgets.update(kept[-(MAX_BUDGETS - 1) :])
    budgets[str(budget)] = {k: _series_json(s) for k, s in data.thinned.items()}
    content = {
        "format": FORMAT,
        "commit": commit.decode(),
        "scalars": list(data.scalars),
        "thinned": budgets,
        "whole": {
            k: _series_json(s) for k, s in data.scalars.items() if k.startswith(SYSTEM_PREFIX)
        },
        "histograms": {k: [h.steps, h.edges, h.counts] for k, h in data.histograms.items()},
        "media": {k: [[step, ref] for step, ref in pairs] for k, pairs in data.media.items()},
    }
    target = folder(repo)
    with contextlib.suppress(OSError, ValueError, TypeError):
        os.makedirs(target, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(content, handle, allow_nan=False, separators=(",", ":"))
            os.replace(temporary, os.path.join(target, commit.decode() + ".json"))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
