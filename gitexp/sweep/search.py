"""A search's plan: what to search, for how long, and what its sweep ref records.

The plan comes from the command line and a sweep file (ours or wandb's), or, to resume,
from the sweep ref alone (sweep/ref.py); its spec is what the ref holds, so the same
plan is made again on any clone.  The study is then rebuilt from the group's runs
(sweep/study.py) and the trials still due are counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitexp.errors import FormatError, GitexpError, UsageError
from gitexp.git.repo import GitRepo
from gitexp.model.record import FINISHED, PRUNED, RUNNING
from gitexp.read.runview import load_run, read_history
from gitexp.sweep import space as sweepmod
from gitexp.sweep import study as studymod
from gitexp.sweep.results import group_runs


@dataclass
class Plan:
    group: str  # the sweep's id: its ref and its runs' group
    prefix: str  # the trials are named PREFIX-<trial number>
    method: str
    metric: str
    goal: str
    trials: int  # trials in all (finished and pruned ones count; failed ones are retried)
    seed: str
    prune: dict[str, object] | None
    command: list[str]
    program: str | None
    params: list[sweepmod.Parameter]

    def spec(self) -> dict[str, object]:
        """What the sweep ref records (docs/format.md, "Sweep refs"), in wandb's spelling."""
        spec: dict[str, object] = {
            "group": self.group,
            "name": self.prefix,
            "method": self.method,
            "metric": {"name": self.metric, "goal": self.goal},
            "trials": self.trials,
            "seed": self.seed,
        }
        if self.prune:
            spec["prune"] = dict(self.prune)
        spec["command"] = list(self.command)
        if self.program is not None:
            spec["program"] = self.program
        spec["parameters"] = {p.key: p.spec() for p in self.params}
        return spec


def wanted(args: Any, sweep_file: sweepmod.SweepFile | None) -> bool:
    """Whether the command asks for an Optuna search rather than the plain grid."""
    search = sweep_file.search if sweep_file else {}
    wanted = args.method or args.trials or args.metric or args.goal or args.prune
    return bool(wanted or search.get("method"))


def make_plan(
    sweep_file: sweepmod.SweepFile | None,
    params: list[sweepmod.Parameter],
    command: list[str],
    group: str,
    prefix: str,
    *,
    method: str | None = None,
    metric: str | None = None,
    goal: str | None = None,
    trials: int | None = None,
    prune: str | None = None,
    seed: str | None = None,
) -> Plan:
    """The plan of the command line over the sweep file's settings (the command line wins)."""
    search: Mapping[str, object] = sweep_file.search if sweep_file else {}
    where = "the sweep file"
    method = method or _choice(search.get("method"), studymod.METHODS, f"{where}: method")
    method = method or "bayes"
    named, given_goal = _metric(search.get("metric"), where)
    metric, goal = metric or named, goal or given_goal or "minimize"
    if not metric:
        raise UsageError(
            "a search needs the metric it optimizes",
            "Give --metric KEY --goal minimize|maximize (or metric: {name, goal} in the file).",
        )
    count = (
        trials
        or _count(search.get("trials"), f"{where}: trials")
        or _count(search.get("run_cap"), f"{where}: run_cap")
    )
    if count is None and method == "grid":
        count = studymod.grid_size(params) if all(p.choices for p in params) else None
    if count is None:
        raise UsageError(
            f"a {method} search needs its number of trials",
            "Give --trials N (or trials: N, wandb's run_cap: N, in the sweep file).",
        )
    pruner = _pruner(prune, search.get("prune") or search.get("early_terminate"), where)
    seed_text = seed or search.get("seed")
    return Plan(
        group,
        prefix,
        method,
        metric,
        goal,
        count,
        str(seed_text) if seed_text is not None else group,
        pruner,
        command,
        sweep_file.program if sweep_file else None,
        params,
    )


def _choice(value: object, allowed: tuple[str, ...], where: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise UsageError(f"{where} is {value!r}: one of {', '.join(allowed)}")
    return str(value)


def _metric(value: object, where: str) -> tuple[str | None, str | None]:
    if value is None or isinstance(value, str):
        return value, None
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise UsageError(f"{where}: metric is a key, or {{name: KEY, goal: minimize|maximize}}")
    return value["name"], _choice(value.get("goal"), studymod.GOALS, f"{where}: metric goal")


def _count(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{where} must be a whole number of at least 1")
    return value


def _pruner(given: str | None, spec: object, where: str) -> dict[str, object] | None:
    if given:
        return {"type": given}
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping) or spec.get("type") not in studymod.PRUNERS:
        raise UsageError(
            f"{where}: early_terminate (or prune) is {{type: hyperband|median, min_iter, "
            "max_iter, eta}",
            "See docs/workflow.md#bayesian-sweeps-with-early-stopping.",
        )
    keep = ("type", "min_iter", "max_iter", "eta", "s", "startup")
    for key, value in spec.items():
        if key != "type" and (key not in keep or _count(value, f"{where}: {key}") is None):
            raise UsageError(f"{where}: early_terminate.{key} is not one of {', '.join(keep)}")
    return {str(key): value for key, value in spec.items()}


def resumed_plan(sweep_id: str, spec: sweepmod.SweepFile) -> Plan:
    """The plan a sweep ref records (sweep/ref.py checked it)."""
    if spec.command is None:
        raise FormatError(f"sweep {sweep_id} records no command")
    return make_plan(spec, spec.parameters, spec.command, sweep_id, spec.name or sweep_id)


def rebuilt_study(repo: GitRepo, plan: Plan, running: bool = False) -> tuple[Any, int, int]:
    """(the study with the group's ended runs, trials counted, runs left out).

    ``running``: also tell the study of the group's running runs (an agent's, from the
    remote), so that ``bayes`` does not propose points beside a trial still running
    elsewhere (TPE's constant liar scores them as the worst so far until they end).
    """
    study = studymod.make_study(
        plan.method, plan.goal, plan.params, plan.seed, plan.trials, plan.prune
    )
    ended: list[tuple[Any, Mapping[str, object], dict[int, float]]] = []
    going: list[Mapping[str, object]] = []
    for entry in group_runs(repo, plan.group):
        if entry.status == RUNNING and running and plan.method == "bayes":
            going.append(_config(repo, entry))
            continue
        if entry.status not in (FINISHED, PRUNED):
            continue
        config: Mapping[str, object] = entry.row.get("config") or {}
        steps: dict[int, float] = {}
        if entry.row.get("truncated") or plan.prune:
            view = load_run(repo, entry)
            config = view.config
            if plan.prune:  # the pruners compare a running trial with these
                steps = studymod.metric_steps(read_history(repo, view), plan.metric)
        ended.append((entry, config, steps))
    added, skipped = studymod.rebuild(study, ended, plan.params, plan.metric)
    studymod.add_running(study, going, plan.params)
    return study, added, skipped


def _config(repo: GitRepo, entry: Any) -> Mapping[str, object]:
    """A run's config: its listing row's, or the whole file where the row left it out
    (none for a run that cannot be read: a running trial is only a hint to the study)."""
    if not entry.row.get("truncated"):
        return entry.row.get("config") or {}
    try:
        return load_run(repo, entry).config
    except GitexpError:
        return {}
