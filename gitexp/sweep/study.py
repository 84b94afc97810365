"""The search: an Optuna study over a sweep's parameters, rebuilt from the sweep's runs.

Optuna chooses every trial's values (``GridSampler``, ``RandomSampler``, ``TPESampler``)
and decides early stopping (``MedianPruner``, ``HyperbandPruner``); gitexp only keeps
the study in git.  The study lives in memory: each finished run of the sweep's group
becomes one ``optuna.trial.create_trial`` (its values, its metric's last value, and the
metric's logged history as intermediate values, which the pruners compare against), so
that any clone with the runs continues the same search, and no database is shared.

Each parameter is a categorical distribution of its choices' ``-p`` texts (the exact
text a trial passes on), or a float/int range.  Optuna is imported here only: a sweep
command pays for it, ``import gitexp`` never does.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from gitexp.errors import UsageError
from gitexp.model import values
from gitexp.model.overrides import missing
from gitexp.model.record import FINISHED, PRUNED
from gitexp.model.summary import row_value
from gitexp.read.listing import RunEntry
from gitexp.sweep import space as sweepmod

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
PRUNERS = ("median", "hyperband")
MEDIAN_STARTUP = 2  # finished trials before the median pruner judges (Optuna's default: 5)


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UsageError(
            "a search with --method, --trials or --prune needs Optuna, which is not installed",
            "Install it: pip install 'gitexp[sweep]' (or pip install optuna).",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # gitexp says what happens
    return optuna


def seed_number(seed: str) -> int:
    """A sampler's seed from the sweep's seed text (its group by default)."""
    return int(hashlib.sha1(seed.encode()).hexdigest()[:8], 16)


def distributions(params: list[sweepmod.Parameter]) -> dict[str, Any]:
    optuna = import_optuna()
    dists: dict[str, Any] = {}
    for p in params:
        if p.choices:
            dists[p.key] = optuna.distributions.CategoricalDistribution([c.text for c in p.choices])
        elif p.integer:
            step = int(p.step or 1)
            dists[p.key] = optuna.distributions.IntDistribution(
                int(p.low or 0), int(p.high or 0), log=p.log and step == 1, step=step
            )
        else:
            dists[p.key] = optuna.distributions.FloatDistribution(
                float(p.low or 0.0), float(p.high or 0.0), log=p.log, step=None if p.log else p.step
            )
    return dists


def grid_size(params: list[sweepmod.Parameter]) -> int:
    return math.prod(len(p.choices) for p in params)


def make_study(
    method: str,
    goal: str,
    params: list[sweepmod.Parameter],
    seed: str,
    trials: int,
    prune: Mapping[str, object] | None,
) -> Any:
    optuna = import_optuna()
    number = seed_number(seed)
    if method == "grid":
        continuous = [p.key for p in params if p.continuous]
        if continuous:
            raise UsageError(
                f"{', '.join(continuous)}: a range without steps has no grid",
                "Use --method random or bayes, or give steps: N (or values) in the sweep file.",
            )
        space = {p.key: [c.text for c in p.choices] for p in params}
        sampler = optuna.samplers.GridSampler(space, seed=number)
    elif method == "random":
        sampler = optuna.samplers.RandomSampler(seed=number)
    else:
        # TPE models the results once it has some: a third of the budget (2 to 10 trials,
        # Optuna's default is 10) is drawn at random first.
        # constant_liar: a trial still running (asked here, or running elsewhere) counts
        # as the worst result so far, so parallel trials do not crowd one point.
        # (Experimental in Optuna 3.x: its warning says nothing a user can act on.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=number, n_startup_trials=max(2, min(10, trials // 3)), constant_liar=True
            )
    return optuna.create_study(direction=goal, sampler=sampler, pruner=make_pruner(prune))


def make_pruner(prune: Mapping[str, object] | None) -> Any:
    """Optuna's pruner for ``prune`` ({type, min_iter, max_iter, eta}); wandb's ``s`` (the
    number of brackets) follows from them in Optuna's Hyperband and is not read."""
    optuna = import_optuna()
    if not prune:
        return optuna.pruners.NopPruner()
    kind = prune.get("type")
    min_iter = _whole(prune.get("min_iter"), 1)
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=_whole(prune.get("startup"), MEDIAN_STARTUP),
            n_warmup_steps=_whole(prune.get("min_iter"), 0),
        )
    max_iter = prune.get("max_iter")
    return optuna.pruners.HyperbandPruner(
        min_resource=min_iter,
        max_resource=_whole(max_iter, 1) if max_iter is not None else "auto",
        reduction_factor=_whole(prune.get("eta"), 3),
    )


def _whole(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def combination(trial: Any, params: list[sweepmod.Parameter]) -> sweepmod.Combination:
    """The values Optuna chose for ``trial``, as the ``-p`` choices a run is given."""
    combo: list[tuple[str, sweepmod.Choice]] = []
    for p in params:
        chosen = trial.params[p.key]
        if p.choices:
            combo.append((p.key, next(c for c in p.choices if c.text == chosen)))
        else:
            combo.append((p.key, sweepmod.Choice(sweepmod.value_text(chosen), chosen)))
    return tuple(combo)


def trial_params(
    config: Mapping[str, object], params: list[sweepmod.Parameter]
) -> dict[str, object] | None:
    """A run's values as Optuna params; None when one is missing or outside the space."""
    out: dict[str, object] = {}
    for p in params:
        found = sweepmod.lookup(config, p.key)
        if missing(found):
            return None
        if p.choices:
            marker = values.dumps(found)
            text = next((c.text for c in p.choices if values.dumps(c.value) == marker), None)
            if text is None:
                return None
            out[p.key] = text
        elif values.is_number(found):
            assert isinstance(found, (int, float))
            number = int(found) if p.integer else float(found)
            if not (p.low or 0) <= number <= (p.high or 0):
                return None
            out[p.key] = number
        else:
            return None
    return out


def summary_value(row: Mapping[str, object], metric: str) -> float | None:
    """The trial's value: the metric's summary (model/summary.py), the one the sweep's
    ranking and ls show, so the study optimizes what the user reads."""
    metrics = row.get("metrics")
    value = row_value(metrics.get(metric)) if isinstance(metrics, dict) else None
    if values.is_number(value) and isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def rebuild(
    study: Any,
    entries: list[tuple[RunEntry, Mapping[str, object], dict[int, float]]],
    params: list[sweepmod.Parameter],
    metric: str,
) -> tuple[int, int]:
    """Add the sweep's ended runs to ``study``: (trials added, runs left out).

    ``entries``: each run with its config and its metric's history by step.  A finished
    run without the metric, or one whose values lie outside the space, is left out.
    """
    optuna = import_optuna()
    dists = distributions(params)
    added = skipped = 0
    for entry, config, steps in entries:
        chosen = trial_params(config, params)
        value = summary_value(entry.row, metric)
        if chosen is None or (entry.status == FINISHED and value is None):
            skipped += 1
            continue
        state = optuna.trial.TrialState.COMPLETE
        if entry.status == PRUNED:
            state = optuna.trial.TrialState.PRUNED
        try:  # a value off a step grid, say: Optuna refuses it
            trial = optuna.trial.create_trial(
                params=chosen,
                distributions=dists,
                value=value if entry.status == FINISHED else None,
                intermediate_values=steps,
                state=state,
                user_attrs={"run": entry.id},
            )
        except ValueError:
            skipped += 1
            continue
        study.add_trial(trial)
        added += 1
    return added, skipped


def add_running(
    study: Any, configs: list[Mapping[str, object]], params: list[sweepmod.Parameter]
) -> int:
    """Tell ``study`` of trials running elsewhere (their values, no result yet): how
    many.  A run whose values lie outside the space is left out."""
    optuna = import_optuna()
    dists = distributions(params)
    added = 0
    for config in configs:
        chosen = trial_params(config, params)
        if chosen is None:
            continue
        try:
            trial = optuna.trial.create_trial(
                params=chosen, distributions=dists, state=optuna.trial.TrialState.RUNNING
            )
        except ValueError:
            continue
        study.add_trial(trial)
        added += 1
    return added


def metric_steps(rows: Sequence[Mapping[str, object]], metric: str) -> dict[int, float]:
    """The metric's logged values by step (the intermediate values a pruner reads)."""
    out: dict[int, float] = {}
    for index, row in enumerate(rows):
        value, step = row.get(metric), row.get("_step", index)
        if (
            values.is_number(value)
            and isinstance(value, (int, float))
            and math.isfinite(value)
            and isinstance(step, int)
        ):
            out[step] = float(value)
    return out
