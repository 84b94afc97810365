"""``gitexp sweep``: run a command once per combination of parameter values.

Each combination is one ``gitexp run --group G --name PREFIX-... -p key=value ... -- CMD``
(a process of its own), up to ``-j`` at once.  Started again, a sweep skips the
combinations its group already holds as finished (or running) runs.  At the end it
prints the group's runs sorted by a metric.

With ``--method``, ``--trials``, ``--metric`` or ``--prune`` (or a wandb sweep file's
``method``), Optuna chooses the trials instead (sweep/study.py), and the sweep is
recorded as a ref any clone can show and resume (sweep/ref.py).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

from gitexp.cli_progress import bars_wanted, meter
from gitexp.cli_support import add_example, confirm_foreign_command, open_repo, say, terminal_text
from gitexp.errors import UsageError
from gitexp.git.repo import GitRepo
from gitexp.model import config as configmod
from gitexp.model import values
from gitexp.model.record import FINISHED, PRUNED
from gitexp.render import overrides as overrides_words
from gitexp.render.cells import table
from gitexp.render.runs_table import ranked_table
from gitexp.render.words import plural
from gitexp.sweep import search as search_plan
from gitexp.sweep import space as sweepmod
from gitexp.sweep.executor import EXECUTORS, Executor, LocalExecutor, make_executor
from gitexp.sweep.local import run_local, trial_command
from gitexp.sweep.results import Ranking, done_combinations, group_runs, rank

EXIT_SOME_FAILED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a command once per combination of parameter values",
        description=textwrap.fill(
            "Record CMD once per combination of the parameter values (the grid, or --random N "
            "of it), each as a `gitexp run` in one group, up to -j at once; then print the "
            "group's runs sorted by a metric. Started again, it skips the combinations that "
            "already finished. Values: -p key=v1,v2,... (typed as gitexp run -p) or a YAML "
            "sweep file with lists and ranges (see docs/workflow.md).",
            88,
        ),
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a parameter and its values, comma separated; repeatable",
    )
    parser.add_argument("--file", metavar="FILE", help="a YAML sweep file (parameters, command)")
    parser.add_argument(
        "--random", type=int, metavar="N", help="run N combinations drawn at random"
    )
    parser.add_argument(
        "--seed",
        metavar="S",
        help="seed of --random (default: the group, so a restart draws the same)",
    )
    parser.add_argument(
        "-j", "--parallel", type=int, default=1, metavar="N", help="runs at once (default 1)"
    )
    parser.add_argument("--name", metavar="PREFIX", help="name runs PREFIX-key=value-...")
    parser.add_argument(
        "--group", metavar="G", help="the runs' group (default: PREFIX, else derived)"
    )
    parser.add_argument(
        "--sort",
        metavar="METRIC",
        help="order the final table by METRIC (best first; -METRIC descending, +METRIC ascending)",
    )
    parser.add_argument("--config", metavar="FILE", help="a config file passed to every run")
    parser.add_argument("--tag", action="append", default=[], help="a tag of every run")
    parser.add_argument(
        "--dry-run", action="store_true", help="list the combinations and run nothing"
    )
    search = parser.add_argument_group(
        "search through Optuna (docs/workflow.md#bayesian-sweeps-with-early-stopping)"
    )
    search.add_argument(
        "--method",
        choices=("grid", "random", "bayes"),
        help="Optuna's GridSampler, RandomSampler or TPESampler (default with --trials: bayes)",
    )
    search.add_argument("--trials", type=int, metavar="N", help="trials in all (a grid: its size)")
    search.add_argument("--metric", metavar="KEY", help="the logged metric the search optimizes")
    search.add_argument(
        "--goal", choices=("minimize", "maximize"), help="minimize (default) or maximize --metric"
    )
    search.add_argument(
        "--prune",
        choices=("median", "hyperband"),
        help="stop trials early whose --metric lags (Optuna's MedianPruner, HyperbandPruner)",
    )
    search.add_argument(
        "--resume",
        metavar="SWEEP",
        help="continue the sweep SWEEP (its ref's spec; its runs rebuild the study)",
    )
    search.add_argument(
        "--yes",
        action="store_true",
        help="with --resume: run a sweep's command that came from elsewhere without asking",
    )
    where = parser.add_argument_group("where trials run (docs/workflow.md: SLURM, Ray)")
    where.add_argument(
        "--executor", choices=EXECUTORS, default="local", help="here (default), SLURM jobs or Ray"
    )
    where.add_argument("--partition", metavar="P", help="slurm: the partition of the jobs")
    where.add_argument("--time", metavar="T", help="slurm: each job's time limit (90, 1:30:00)")
    where.add_argument("--gpus-per-task", type=int, metavar="N", help="slurm: GPUs of each job")
    where.add_argument("--cpus-per-task", type=int, metavar="N", help="slurm: CPUs of each job")
    where.add_argument("--mem", metavar="SIZE", help="slurm: memory of each job (16G)")
    where.add_argument(
        "--slurm-option", action="append", default=[], metavar="K=V", help="slurm: sbatch --K=V"
    )
    where.add_argument("--address", metavar="HOST:PORT", help="Ray: the cluster (RAY_ADDRESS)")
    where.add_argument(
        "--resources", metavar="cpu=1,gpu=1", help="Ray: what each trial takes (default cpu=1)"
    )
    where.add_argument(
        "--remote",
        metavar="NAME",
        help="Ray: run trials in clones from git remote NAME and push their runs back",
    )
    # gitexp agent (docs/workflow.md#agents-on-several-machines)
    search.add_argument(
        "--create",
        action="store_true",
        help="write the sweep's ref and run no trial: `gitexp agent SWEEP` runs them",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="the command, after --; or `show [SWEEP]`: a sweep's spec and trials",
    )
    add_example(
        parser,
        "gitexp sweep -p lr=0.1,0.01,0.001 -p batch=32,64 -j 2 --name lr -- python train.py",
        "gitexp sweep -p lr=0.1,0.01 -- python app.py '${args_no_hyphens}'   # a Hydra app",
        "gitexp sweep --file sweep.yaml --random 20 -j 4 --sort val/acc",
        "gitexp sweep --file sweep.yaml --method bayes --trials 30 --metric loss --prune median",
        "gitexp sweep --file wandb_sweep.yaml -j 2          # a wandb sweep YAML as is",
        "gitexp sweep show lr-search; gitexp sweep --resume lr-search -j 4",
        "gitexp sweep -p lr=0.1,0.01 -j 8 --executor slurm --time 2:00:00 -- python train.py",
        "gitexp sweep --executor ray --address 10.0.0.1:6379 -j 8 -p lr=0.1,0.01 -- python t.py",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command[:1] == ["show"]:  # `gitexp sweep show SWEEP`: no `--`, so no command
        return show(command[1:])
    if command and command[0] == "--":
        command = command[1:]
    if args.resume:
        return resume(args, command)
    sweep_file = sweepmod.load_file(args.file) if args.file else None
    for warning in sweep_file.warnings if sweep_file else []:
        say(f"warning: {warning}")
    params = sweepmod.merge(
        sweep_file.parameters if sweep_file else [], [sweepmod.parse_cli(t) for t in args.param]
    )
    command = command or (sweep_file.command if sweep_file and sweep_file.command else [])
    program = sweep_file.program if sweep_file else None
    if program is not None:  # the rest of the macros are expanded by each trial's gitexp run
        command = [part.replace("${program}", program) for part in command]
    if not command:
        raise UsageError(
            "missing the command to run after --",
            "Example: gitexp sweep -p lr=0.1,0.01 -- python train.py",
        )
    if not params:
        raise UsageError("no parameters to sweep", "Give -p key=v1,v2 or --file sweep.yaml.")
    if args.parallel < 1 or (args.random is not None and args.random < 1):
        raise UsageError("-j and --random take a number of at least 1")
    if args.config:
        configmod.load_config_file(args.config)  # a bad file fails now, not in every run
    prefix = args.name or (sweep_file.name if sweep_file else None)
    group = (
        args.group
        or (sweep_file.group if sweep_file else None)
        or prefix
        or sweepmod.default_group(command, params)
    )
    prefix = prefix or group
    if search_plan.wanted(args, sweep_file) or args.create:
        plan = search_plan.make_plan(
            sweep_file,
            params,
            command,
            group,
            prefix,
            method=args.method,
            metric=args.metric,
            goal=args.goal,
            trials=args.trials,
            prune=args.prune,
            seed=args.seed,
        )
        return search(args, plan, new=True)
    combos = sweepmod.combinations(params, args.random, args.seed or group)
    varying = [p.key for p in params if p.continuous or len(p.choices) > 1]
    with open_repo() as repo:
        done = done_combinations(repo, group, combos)
    todo = [(i, combo) for i, combo in enumerate(combos) if i not in done]
    say(
        f"sweep {group}: {len(combos)} combinations, {len(done)} done already, "
        f"{len(todo)} to run{f' ({args.parallel} at a time)' if todo else ''}"
    )
    if args.dry_run:
        rows = [
            [sweepmod.member_name(prefix, combo, varying, i), done.get(i, "to run")]
            for i, combo in enumerate(combos)
        ]
        print(table(rows, ["name", "state"]))
        return 0
    options = [*(["--config", args.config] if args.config else [])]
    for tag in args.tag:
        options += ["--tag", tag]
    trials = []
    for i, combo in todo:
        name = sweepmod.member_name(prefix, combo, varying, i)
        combo_args = [arg for key, choice in combo for arg in ("-p", f"{key}={choice.text}")]
        trials.append((name, trial_command(group, name, options, combo_args, command)))
    stopped: list[tuple[str, dict[str, object]]] = []
    with executor_for(args, group, trials=bool(trials)) as executor:
        codes = run_local(
            trials,
            args.parallel,
            *reporters(bars_wanted()),
            gate=first_trial_gate(group, stopped),
            executor=executor,
        )
    with GitRepo.discover() as repo:
        print(ranked_table(rank(repo, group, args.sort), varying))
    _refuse_stopped(stopped)
    failed = sum(1 for code in codes if code != 0)
    if failed:
        say(
            f"{failed} of {plural(len(codes), 'run')} did not finish; "
            "run the same sweep again to retry them"
        )
        return EXIT_SOME_FAILED
    return 0


@contextlib.contextmanager
def executor_for(args: argparse.Namespace, group: str, trials: bool = True) -> Iterator[Executor]:
    """The executor --executor names (sweep/executor.py), closed after the trials; none
    is connected to when no trial is left to run."""
    if not trials:
        executor: Executor = LocalExecutor()
    else:
        with open_repo() as repo:
            executor = make_executor(args, say, group, repo.commondir)
    try:
        yield executor
    finally:
        executor.close()


def _refuse_stopped(stopped: list[tuple[str, dict[str, object]]]) -> None:
    if stopped:
        raise UsageError(
            f"sweep stopped after trial {stopped[0][0]}: the program did not take its "
            f"overrides ({'; '.join(overrides_words.problems(stopped[0][1]))}), so every trial "
            "would have trained the same",
            "Pass them on the command line: gitexp sweep -p ... -- python train.py '${args}' "
            "(Hydra apps: '${args_no_hyphens}'), or read them through gitexp.config; "
            "see docs/workflow.md#passing-config-to-a-program",
        )


def search(args: argparse.Namespace, plan: search_plan.Plan, new: bool) -> int:
    """Run the trials of an Optuna search still due; its ref written first (``new``)."""
    from gitexp.sweep import ref as sweepref
    from gitexp.sweep import trials as trialsmod

    command = _runs(plan)
    with open_repo() as repo:
        if new and not args.dry_run:
            sweepref.write_spec(repo, plan.group, plan.spec())
        if args.create:
            say(
                f"sweep {plan.group} ({plan.method}, {plan.goal} {plan.metric}, "
                f"{plan.trials} trials) is ready: run its trials with `gitexp agent "
                f"{plan.group} --remote REMOTE` on each machine"
            )
            return 0
        study, done, skipped = search_plan.rebuilt_study(repo, plan)
    left = max(0, plan.trials - done)
    prune = f", pruning: {plan.prune['type']}" if plan.prune else ""
    say(
        f"sweep {plan.group} ({plan.method}, {plan.goal} {plan.metric}{prune}): "
        f"{plan.trials} trials, {done} done already, {left} to run"
        f"{f' ({args.parallel} at a time)' if left else ''}"
    )
    if skipped:
        say(
            f"sweep {plan.group}: {plural(skipped, 'finished run')} of the group left out "
            f"(no {plan.metric}, or values outside the space)"
        )
    if args.dry_run or not left:
        if not args.dry_run:
            with GitRepo.discover() as repo:
                print(ranked_table(_ranking(repo, plan), [p.key for p in plan.params]))
        return 0
    options = [*(["--config", args.config] if args.config else [])]
    for tag in args.tag:
        options += ["--tag", tag]

    def argv(name: str, combo: sweepmod.Combination) -> list[str]:
        combo_args = [arg for key, choice in combo for arg in ("-p", f"{key}={choice.text}")]
        return trial_command(plan.group, name, options, combo_args, command)

    runner = trialsmod.Search(
        study,
        plan.params,
        plan.metric,
        plan.group,
        plan.prune is not None,
        argv,
        lambda number: f"{plan.prefix}-{number}",
    )
    stopped: list[tuple[str, dict[str, object]]] = []
    started, ended = reporters(bars_wanted())
    with executor_for(args, plan.group) as executor:
        statuses = trialsmod.run_search(
            runner,
            left,
            args.parallel,
            started,
            lambda n, total, name, status: ended(n, total, name, 0 if status in OK else 1),
            gate=first_trial_gate(plan.group, stopped),
            executor=executor,
        )
    with GitRepo.discover() as repo:
        print(ranked_table(_ranking(repo, plan), [p.key for p in plan.params]))
    _refuse_stopped(stopped)
    failed = sum(1 for status in statuses if status not in OK)
    if failed:
        say(
            f"{failed} of {plural(len(statuses), 'trial')} did not finish; "
            f"`gitexp sweep --resume {plan.group}` runs the trials still due"
        )
        return EXIT_SOME_FAILED
    return 0


OK = (FINISHED, PRUNED)


def _ranking(repo: GitRepo, plan: search_plan.Plan) -> Ranking:
    return rank(repo, plan.group, ("-" if plan.goal == "maximize" else "+") + plan.metric)


def resume(args: argparse.Namespace, command: list[str]) -> int:
    """``gitexp sweep --resume SWEEP``: the ref's plan, with this command line's -j."""
    from gitexp.sweep import ref as sweepref

    if command or args.param or args.file or args.method or args.metric or args.prune:
        raise UsageError(
            "--resume takes the sweep's own spec: no command, -p, --file, --method, "
            "--metric or --prune (--trials N sets a new total)",
            "Start a new sweep with another --group to search differently.",
        )
    with open_repo() as repo:
        _adopt_fetched(repo)
        sweep_id, spec = sweepref.load(repo, args.resume)
        ours = sweepref.created_here(repo, sweep_id)
    plan = search_plan.resumed_plan(sweep_id, spec)
    if args.trials:  # a new total: the spec keeps what the sweep was started with
        plan.trials = args.trials
    if not ours:
        _consent(sweep_id, plan, args.yes)
    return search(args, plan, new=False)


def _runs(plan: search_plan.Plan) -> list[str]:
    """The command each trial runs: the recorded one with ``${program}`` expanded (the
    other macros each trial's run expands).  What a sweep shows is this, never the
    template alone: a pulled sweep's ``program`` is part of what would run."""
    if plan.program is None:
        return list(plan.command)
    return [part.replace("${program}", plan.program) for part in plan.command]


def _consent(sweep_id: str, plan: search_plan.Plan, yes: bool) -> None:
    """A sweep made in another clone runs its recorded command here: show it, and run it
    only when the user says so (a terminal's answer, or --yes), as rerun does."""
    say(f"sweep {sweep_id} was not started in this clone (it came from a remote); resuming")
    say("  it runs its recorded command on this machine:")
    say(f"  command   {shlex.join(_runs(plan))}")
    confirm_foreign_command(yes, "not resumed: you said no")


def show(names: list[str]) -> int:
    """``gitexp sweep show [SWEEP]``: the sweeps here, or one sweep's spec and trials."""
    from gitexp.sweep import ref as sweepref

    with open_repo() as repo:
        _adopt_fetched(repo)
        if not names:
            sweeps = sweepref.usable(repo, say)
            rows = []
            for sweep_id, spec in sweeps.items():
                plan = search_plan.resumed_plan(sweep_id, spec)
                runs = group_runs(repo, sweep_id)
                done = sum(1 for entry in runs if entry.status in OK)
                rows.append(
                    [sweep_id, plan.method, f"{plan.goal} {plan.metric}", f"{done}/{plan.trials}"]
                )
            print(table(rows, ["sweep", "method", "goal", "trials done"]))
            return 0
        sweep_id, spec = sweepref.load(repo, names[0])
        plan = search_plan.resumed_plan(sweep_id, spec)
        ranking = _ranking(repo, plan)
    done = sum(1 for entry in ranking.entries if entry.status in OK)
    prune = f", pruning: {plan.prune['type']}" if plan.prune else ""
    lines = [
        f"sweep {sweep_id}: {plan.method}, {plan.goal} {plan.metric}{prune}",
        f"  trials   {done} of {plan.trials} done",
        f"  command  {shlex.join(_runs(plan))}",
        *(f"  {p.key}  {values.dumps(p.spec())}" for p in plan.params),
    ]
    print(terminal_text("\n".join(lines)))  # the spec came from git: no control characters
    print(ranked_table(ranking, [p.key for p in plan.params]))
    return 0


def _adopt_fetched(repo: GitRepo) -> None:
    """Sweeps a plain ``git fetch`` mirrored (after ``gitexp install``) become local first."""
    from gitexp.share.sweeps import adopt_mirrored

    for line in adopt_mirrored(repo):
        say(line)


def first_trial_gate(
    group: str, stopped: list[tuple[str, dict[str, object]]]
) -> Callable[[str, bool], bool | None]:
    """Hold the other trials until the first shows it takes its overrides (sweep/probe.py)."""
    from gitexp.sweep import probe

    with GitRepo.discover() as repo:
        earlier = probe.group_ids(repo, group)

    def gate(trial: str, ended: bool) -> bool | None:
        with GitRepo.discover() as repo:
            verdict, overrides = probe.first_trial(repo, group, trial, earlier)
        if verdict == probe.STOP:
            stopped.append((trial, overrides))
            return False
        return True if verdict == probe.GO else None  # undecided: sweep/local.py asks on

    return gate


def reporters(
    show_progress: bool,
) -> tuple[Callable[[int, int, str], None], Callable[[int, int, str, int], None]]:
    """What the sweep says as trials start and end (with the time left on a terminal)."""
    began = time.monotonic()

    def started(number: int, total: int, name: str) -> None:
        say(f"sweep [{number}/{total}] {name}")

    def done(finished: int, total: int, name: str, code: int) -> None:
        if code != 0:
            say(f"sweep: {name} exited with {code}")
        if show_progress:
            say(f"sweep {meter(finished, total, time.monotonic() - began)} {name} done")

    return started, done
