"""A sweep's state in git: which combinations are done, and its runs ranked by a metric.

A sweep keeps no state of its own: its trials are the runs of its group, so any clone
that has them can resume or rank it.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitexp.git.repo import GitRepo
from gitexp.model.record import FINISHED, RUNNING
from gitexp.model.summary import row_value
from gitexp.read import compare as comparison
from gitexp.read.listing import RunEntry, list_runs
from gitexp.read.runview import load_run
from gitexp.slotted import Slotted
from gitexp.sweep import space as sweepmod


def group_runs(repo: GitRepo, group: str) -> list[RunEntry]:
    return [entry for entry in list_runs(repo) if entry.row.get("group") == group]


def done_combinations(
    repo: GitRepo, group: str, combos: list[sweepmod.Combination]
) -> dict[int, str]:
    """Indices of the combinations the group already holds as finished or running runs."""
    configs: list[tuple[str, Mapping[str, object]]] = []
    needs_full = not all(sweepmod.scalar_only(combo) for combo in combos)
    for entry in group_runs(repo, group):
        if entry.status not in (FINISHED, RUNNING):
            continue
        config: Mapping[str, object] = entry.row.get("config") or {}
        if needs_full or entry.row.get("truncated"):
            config = load_run(repo, entry).config
        configs.append((entry.status, config))
    done: dict[int, str] = {}
    for index, combo in enumerate(combos):
        for status, config in configs:
            if sweepmod.matches(config, combo):
                done[index] = status
                break
    return done


def sort_metric(
    entries: list[RunEntry], defs: dict[str, comparison.MetricDefinition], sort: str | None
) -> tuple[str | None, bool]:
    """The metric to sort by and whether higher is better."""
    if sort:
        key = sort.lstrip("+-")
        if sort.startswith(("-", "+")):
            return key, sort.startswith("-")
        goal, _source = comparison.goal_of(key, defs)
        return key, goal == comparison.MAXIMIZE
    keys: list[str] = []
    for entry in entries:
        for key, stats in (entry.row.get("metrics") or {}).items():
            last = stats.get("last") if isinstance(stats, dict) else None
            if key not in keys and isinstance(last, (int, float)) and not isinstance(last, bool):
                keys.append(key)
    for key in keys:
        goal, _source = comparison.goal_of(key, defs)
        if goal is not None:
            return key, goal == comparison.MAXIMIZE
    return (keys[0], False) if keys else (None, False)


class Ranking(Slotted):
    """A sweep's runs best first by one metric (the sort key, else the first with a goal)."""

    _fields = ("entries", "metric", "descending")
    __slots__ = _fields

    def __init__(self, entries: list[RunEntry], metric: str | None, descending: bool) -> None:
        self.entries, self.metric, self.descending = entries, metric, descending

    def value(self, entry: RunEntry) -> object:
        """The run's summary value of the ranking metric (None when it has none), as
        ``gitexp ls`` shows it (model/summary.py)."""
        stats = (entry.row.get("metrics") or {}).get(self.metric) if self.metric else None
        return row_value(stats) if isinstance(stats, dict) else None


def rank(repo: GitRepo, group: str, sort: str | None) -> Ranking:
    """The group's runs, best first; runs without a number for the metric last, by name."""
    entries = group_runs(repo, group)
    views = [load_run(repo, entry) for entry in entries if entry.status == FINISHED]
    metric, descending = sort_metric(entries, comparison.declared_definitions(views), sort)
    ranking = Ranking(entries, metric, descending)

    def order(entry: RunEntry) -> tuple[int, float, str]:
        number = ranking.value(entry)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or number != number:
            return (1, 0.0, entry.name)
        return (0, -float(number) if descending else float(number), entry.name)

    entries.sort(key=order)
    return ranking
