"""Choosing runs: ``--where``, ``--sort`` and ``-n`` as ``ls``, ``plot`` and ``report`` apply them.

Filtering reads the listing rows only (one object per run, cached).  A row marked
``truncated`` (a run with a huge config) is completed from its ``config.yaml`` and
``metrics.json`` when there is an expression at all: a bare name (``loss``) is resolved
against the config keys and metrics of the runs, which that row alone does not show.
"""

from __future__ import annotations

from gitexp.errors import FormatError, UnknownRunError, UsageError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.read.listing import RunEntry, collector_paused
from gitexp.read.projects import with_projects
from gitexp.read.resolve import resolve
from gitexp.typecheck import TYPE_CHECKING

# The query language (ast, dataclasses, datetime) and whole runs (runview, the checks)
# are imported where a --where, --sort or --columns needs them: a plain `ls` never does.
if TYPE_CHECKING:
    from gitexp.model.shapes import ListingRow, RowMetric
    from gitexp.read import query

DEFAULT_CHART_RUNS = 5  # plot and report without RUN: the first five runs `ls` shows


def complete_row(repo: GitRepo, entry: RunEntry) -> RunEntry:
    """The entry with config and metrics filled in when its listing row was truncated."""
    if not entry.row.get("truncated"):
        return entry
    from gitexp.read.runview import load_run

    try:
        view = load_run(repo, entry)
    except FormatError:  # quarantined or unreadable: filtered on what its row says
        return entry
    metrics: dict[str, RowMetric] = {}
    for key, stats in (view.metrics.get("metrics") or {}).items():
        if isinstance(stats, dict) and not isinstance(stats.get("last"), dict):
            kept: RowMetric = {}
            if "last" in stats:
                kept["last"] = stats["last"]
            if "min" in stats:
                kept["min"] = stats["min"]
            if "max" in stats:
                kept["max"] = stats["max"]
            metrics[key] = kept
    for key, value in view.summary.items():
        if not isinstance(value, dict):
            metrics.setdefault(key, {})["last"] = value
    config = configmod.flatten_config(view.config)
    row: ListingRow = {**entry.row, "config": config, "metrics": metrics}
    return RunEntry(entry.id, entry.commit, row)


def known_names(runs: list[RunEntry]) -> query.Known:
    """What a bare name in --where, --sort or --columns can mean for these runs: one
    vocabulary for every command, so ``--sort loss`` means the same in ls, plot and report."""
    from gitexp.read import query

    return query.Known.from_rows(lambda: (entry.row for entry in runs))


def select(
    repo: GitRepo,
    runs: list[RunEntry],
    where: str | None = None,
    sort: str | None = None,
    columns: str | None = None,
) -> list[RunEntry]:
    """``runs`` (newest first) filtered by ``where`` and ordered by ``sort``.

    Expressions are checked before any run is filtered; bare names mean what
    :func:`known_names` of ``runs`` says.
    """
    with collector_paused():  # filtering decodes every row (read/listing.py)
        return _select(repo, runs, where, sort, columns)


def _select(
    repo: GitRepo, runs: list[RunEntry], where: str | None, sort: str | None, columns: str | None
) -> list[RunEntry]:
    if not any((where, sort, columns)):
        return list(runs)
    from gitexp.read import query

    if any(entry.row.get("truncated") for entry in runs):
        runs = [complete_row(repo, entry) for entry in runs]
    if any("project" in text for text in (where, sort, columns) if text):
        # `project` means the default for runs that name none; filled in only where the
        # field may be named (the word is in the text): ~2 us a run of a warm --where
        with_projects(repo, runs)
    known = known_names(runs)
    predicate = query.compile_where(where, known) if where else None
    keys = query.parse_sort(sort, known) if sort else []
    if columns:
        query.parse_columns(columns, known)
    if predicate is not None:
        runs = [entry for entry in runs if predicate(entry.row)]
    else:
        runs = list(runs)
    if keys:
        query.sort_rows(runs, keys, lambda entry: entry.row)
    return runs


def choose(
    repo: GitRepo,
    runs: list[RunEntry],
    refs: list[str] | None,
    where: str | None = None,
    sort: str | None = None,
    limit: int = DEFAULT_CHART_RUNS,
) -> list[RunEntry]:
    """The runs a chart command draws: those named, else the first ``limit`` that ``ls``
    would show with the same ``--where`` and ``--sort``."""
    if refs:
        if where or sort:
            raise UsageError("name runs or select them with --where/--sort, not both")
        chosen: list[RunEntry] = []
        for text in refs:
            entry = resolve(text, runs)
            if all(entry.id != c.id for c in chosen):
                chosen.append(entry)
        return chosen
    picked = select(repo, runs, where, sort)
    if not picked:
        if not runs:
            raise UnknownRunError(
                "this repository has no runs yet", "Record one with `gitexp run -- CMD`."
            )
        raise UnknownRunError(f"no run matches --where {where!r}", "See the runs with `gitexp ls`.")
    return picked if limit <= 0 else picked[:limit]
