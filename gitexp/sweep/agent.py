"""An agent: one machine's share of a sweep, taken trial by trial through a git remote.

Machines that share nothing but a git remote each run ``gitexp agent SWEEP --remote
origin`` (wandb's agent model, without a server).  Each turn, an agent pulls the remote's
runs, sweeps and claims (share/pull.py), picks the next trial nobody holds, claims it
with a create-only push of ``refs/gitexp/claims/<sweep>/<trial>`` (share/claims.py: of
two agents wanting it, exactly one wins; the loser picks again), runs it as the local
sweep would (the same ``gitexp run`` command line, through the executor interface),
with ``--push`` so the run shows on the remote while it trains and lands there when it
ends, and goes on until no trial is left (or ``--count`` ran).

Which trial is next:

* a grid (``method: grid``): the first combination, in grid order, that no finished or
  running run of the sweep's group holds and no live claim names; trial N is
  combination N;
* a search (``random``, ``bayes``): while finished and pruned runs plus live claims are
  fewer than the sweep's ``trials``, the lowest trial number free, its values asked of
  the Optuna study rebuilt from the runs pulled (sweep/search.py), seeded by the sweep's
  seed and the trial number so that agents asking at once do not draw alike; for
  ``bayes``, trials running elsewhere are running trials of the study (TPE's constant
  liar keeps new points away from them).

A claim is live while it is younger than ``stale`` seconds, or while a run of the
name it gives is running, finished or pruned.  A trial that ends otherwise (failed,
crashed, interrupted) gives its claim back: its agent deletes the ref.  Any other claim
is free again — another agent takes it over by a compare-and-swap against the commit it
holds: its agent died before its run reached the remote, or after the run failed; so is
a ref that is not a readable claim of this trial.  An agent does not retry a trial that
failed under it.

``gitexp.agent(SWEEP, function)`` in a script (:func:`run_in_script`) takes trials the
same way and runs each by calling the function in this process.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

from gitexp.errors import TransferError
from gitexp.git.repo import GitRepo, ObjectId
from gitexp.model.record import FINISHED, PRUNED, RUNNING
from gitexp.read.listing import RunEntry
from gitexp.share import claims as claimsmod
from gitexp.share.pull import pull_runs
from gitexp.share.push import push_runs
from gitexp.share.remotes import tracking_prefix
from gitexp.share.sweeps import mirror_prefix as sweeps_mirror
from gitexp.share.sweeps import push_sweeps
from gitexp.slotted import Slotted
from gitexp.sweep import ref as sweepref
from gitexp.sweep import search as search_plan
from gitexp.sweep import space as sweepmod
from gitexp.sweep.executor import LocalExecutor
from gitexp.sweep.local import run_local, trial_command
from gitexp.sweep.results import done_combinations, group_runs

Say = Callable[[str], None]
# Runs one trial in this process (gitexp.agent's function): its group, run name, values.
Runner = Callable[[str, str, sweepmod.Combination], None]
STALE_SECONDS = 600.0  # a claim with no run on the remote after this long is free again
LIVE_EVERY = "1m"  # how often a trial pushes its checkpoints (gitexp run --push --every)
CLAIM_ATTEMPTS = 5  # claims refused in a row, with no other claim to show, before giving up
OK = (FINISHED, PRUNED)


class AgentExecutor(LocalExecutor):
    """Trials on this machine, recorded as an agent's: the manifest's ``host.executor``
    says ``agent`` with the claim (``<sweep>/<trial>``) as the job id."""

    name = "agent"

    def __init__(self, job: str) -> None:
        self.job = job


class Outcome(Slotted):
    """What an agent did: each trial it ran with its run's status, and why it stopped."""

    _fields = ("sweep", "ran", "reason")
    __slots__ = _fields

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep
        self.ran: list[tuple[str, str]] = []
        self.reason = ""

    @property
    def failed(self) -> list[str]:
        return [name for name, status in self.ran if status not in OK]


class Board(Slotted):
    """The sweep as the last pull left it: its runs by name and the remote's claims."""

    _fields = ("plan", "runs", "claims", "unreadable", "warnings", "stale", "now")
    __slots__ = _fields

    def __init__(self, repo: GitRepo, remote: str, plan: search_plan.Plan, stale: float) -> None:
        self.plan, self.stale, self.now = plan, stale, time.time()
        self.runs: dict[str, list[RunEntry]] = {}
        for entry in group_runs(repo, plan.group):
            self.runs.setdefault(entry.name, []).append(entry)
        found = claimsmod.read_claims(repo, tracking_prefix(remote), plan.group)
        self.claims, self.unreadable, self.warnings = found
        for trial, claim in list(self.claims.items()):
            if claim.name != f"{plan.prefix}-{trial}":  # it would hold the trial by another
                # run's name forever: a claim only of this sweep's own trial name counts
                self.warnings.append(f"claim of trial {trial} names another run: counted as stale")
                self.unreadable[trial] = self.claims.pop(trial).commit

    def statuses(self, name: str) -> set[str]:
        return {entry.status for entry in self.runs.get(name, [])}

    def live(self, trial: int) -> bool:
        """Whether ``trial``'s claim holds (see the module's docstring)."""
        claim = self.claims.get(trial)
        if claim is None:
            return False
        # A run of that name that ended badly proves nothing: it may be an earlier
        # attempt, and this claim's trial may not have pushed its run yet.
        if self.statuses(claim.name) & {RUNNING, *OK}:
            return True
        # A claim from the future (a skewed clock, a crafted ref) is as good as stale:
        # it must not hold its trial for ever.
        return 0 <= self.now - claim.time < self.stale

    def expect(self, trial: int) -> ObjectId | None:
        """The commit a claim of ``trial`` must replace (None: there is none to replace)."""
        claim = self.claims.get(trial)
        return claim.commit if claim is not None else self.unreadable.get(trial)

    def next_grid(
        self, combos: list[sweepmod.Combination], done: dict[int, str], skip: set[int]
    ) -> int | None:
        for trial in range(len(combos)):
            if trial not in done and trial not in skip and not self.live(trial):
                return trial
        return None

    def next_search(self, skip: set[int]) -> int | None:
        done = sum(1 for entries in self.runs.values() for e in entries if e.status in OK)
        active = [
            trial
            for trial, claim in self.claims.items()
            if self.live(trial) and not self.statuses(claim.name) & set(OK)
        ]
        if done + len(active) >= self.plan.trials:
            return None
        trial = 0
        while (
            trial in skip
            or self.live(trial)
            or self.statuses(f"{self.plan.prefix}-{trial}") & {RUNNING, *OK}
        ):
            trial += 1
        return trial


def run_agent(
    root: str,
    remote: str,
    sweep_text: str,
    count: int | None,
    say: Say,
    consent: Callable[[str, list[str]], None],
    stale: float = STALE_SECONDS,
    runner: Runner | None = None,
) -> Outcome:
    """Take and run the sweep's trials until none is left or ``count`` ran.

    ``consent(sweep_id, command)`` is asked before the first trial of a sweep that was
    not created in this clone (its recorded command runs here); it raises to refuse.
    ``runner``: each trial runs in this process instead (no command runs, no consent).
    """
    pull_runs(root, remote, artifacts=False, quiet=True)
    with GitRepo.discover(root) as repo:
        sweep_id, spec = sweepref.load(repo, sweep_text)
        ours = sweepref.created_here(repo, sweep_id)
        mirrored = sweeps_mirror(tracking_prefix(remote)) + sweep_id.encode()
        if repo.read_ref(mirrored) is None:  # teammates' agents find it there
            for line in push_sweeps(repo, remote, {sweep_id}):
                say(line)
    plan = search_plan.resumed_plan(sweep_id, spec)
    command = list(plan.command)
    if plan.program is not None:  # the other macros each trial's gitexp run expands
        command = [part.replace("${program}", plan.program) for part in command]
    if not ours and runner is None:
        consent(sweep_id, command)
    combos: list[sweepmod.Combination] = []
    if plan.method == "grid":
        combos = sweepmod.combinations(plan.params, None, plan.seed)[: plan.trials]
    outcome = Outcome(sweep_id)
    failed_here: set[int] = set()
    warned: set[str] = set()
    lost = 0  # claims refused in a row where no other agent's claim explains it
    race: tuple[int, ObjectId | None] | None = None  # the last trial lost, and its claim then
    while count is None or len(outcome.ran) < count:
        if outcome.ran or lost:
            pull_runs(root, remote, artifacts=False, quiet=True)
        with GitRepo.discover(root) as repo:
            board = Board(repo, remote, plan, stale)
            if race is not None and board.expect(race[0]) != race[1]:
                lost = 0  # another agent's claim is there now: a race lost, not a fault
            if combos:
                done = done_combinations(repo, plan.group, combos)
                trial = board.next_grid(combos, done, failed_here)
            else:
                trial = board.next_search(failed_here)
            for warning in board.warnings:
                if warning not in warned:
                    warned.add(warning)
                    say(f"warning: sweep {sweep_id}: {warning}")
            if trial is None:
                outcome.reason = _why_done(board, combos, failed_here)
                break
            name = f"{plan.prefix}-{trial}"
            claim, why = claimsmod.take(repo, remote, sweep_id, trial, name, board.expect(trial))
        if claim is None:
            lost, race = lost + 1, (trial, board.expect(trial))
            if lost >= CLAIM_ATTEMPTS:
                raise TransferError(
                    f"could not claim a trial of sweep {sweep_id} on {remote} "
                    f"{CLAIM_ATTEMPTS} times in a row (last: {why})",
                    "Check that you may push to the remote (`git push REMOTE` must work).",
                )
            say(f"agent: trial {trial} went to another agent ({why}); choosing again")
            continue
        lost = 0
        taken = "took over the stale claim of" if board.expect(trial) else "claimed"
        say(f"agent: {taken} trial {trial} of sweep {sweep_id} on {remote}: {name}")
        status = _run_trial(root, remote, plan, command, (trial, name), combos, say, claim, runner)
        outcome.ran.append((name, status))
        if status not in OK:
            failed_here.add(trial)
    else:
        outcome.reason = f"ran {len(outcome.ran)} of --count {count}"
    return outcome


def _run_trial(
    root: str,
    remote: str,
    plan: search_plan.Plan,
    command: list[str],
    which: tuple[int, str],
    combos: list[sweepmod.Combination],
    say: Say,
    claim: ObjectId,
    runner: Runner | None,
) -> str:
    """Run the claimed trial; its run's status.  A trial that did not end well gives its
    claim back; its run goes to the remote either way."""
    trial, name = which
    options = ["--push", remote, "--every", LIVE_EVERY]
    executor = AgentExecutor(f"{plan.group}/{trial}")

    def argv(run_name: str, combo: sweepmod.Combination) -> list[str]:
        combo_args = [arg for key, choice in combo for arg in ("-p", f"{key}={choice.text}")]
        return trial_command(plan.group, run_name, options, combo_args, command)

    status = "failed"
    try:
        if runner is not None:
            runner(plan.group, name, combos[trial] if combos else _ask(root, plan, trial))
        elif combos:
            trials = [(name, argv(name, combos[trial]))]
            run_local(trials, 1, _ignore_start, _ignore_end, None, executor)
        else:
            _search_one(root, plan, trial, name, argv, executor)
    finally:
        with GitRepo.discover(root) as repo:
            entries = [e for e in group_runs(repo, plan.group) if e.name == name]
            entry = max(entries, key=lambda e: e.start) if entries else None
            if entry is not None:
                status = entry.status
                report = push_runs(repo, remote, {entry.id: entry.commit})
                for item in report.failed:
                    say(f"warning: run {name} not pushed to {remote}: {item.error}")
            if status not in OK:
                claimsmod.release(repo, remote, plan.group, trial, claim)
    say(f"agent: trial {trial} ({name}) {status}")
    return status


def _ignore_start(_n: int, _total: int, _name: str) -> None:
    return None  # the agent says what it runs itself


def _ignore_end(_n: int, _total: int, _name: str, _code: int) -> None:
    return None


def _ignore_search_end(_n: int, _total: int, _name: str, _status: str) -> None:
    return None


def _search_one(
    root: str,
    plan: search_plan.Plan,
    trial: int,
    name: str,
    argv: Callable[[str, sweepmod.Combination], list[str]],
    executor: AgentExecutor,
) -> None:
    """One trial of a search: its values asked of the rebuilt study, pruned as a local
    search prunes (sweep/trials.py)."""
    from gitexp.sweep import trials as trialsmod

    search = trialsmod.Search(
        _study(root, plan, trial),
        plan.params,
        plan.metric,
        plan.group,
        plan.prune is not None,
        argv,
        lambda _n: name,
    )
    trialsmod.run_search(search, 1, 1, _ignore_start, _ignore_search_end, None, executor)


def _ask(root: str, plan: search_plan.Plan, trial: int) -> sweepmod.Combination:
    """A search trial's values for a trial run in this process (no pruning there)."""
    from gitexp.sweep import study as studymod

    asked = _study(root, plan, trial).ask(studymod.distributions(plan.params))
    return studymod.combination(asked, plan.params)


def _study(root: str, plan: search_plan.Plan, trial: int) -> Any:
    """The study rebuilt from the runs pulled, its sampler seeded by the trial number too:
    agents asking at the same moment, with the same runs, must not draw alike."""
    seeded = dataclasses.replace(plan, seed=f"{plan.seed}/{trial}")
    with GitRepo.discover(root) as repo:
        study, _done, _skipped = search_plan.rebuilt_study(repo, seeded, running=True)
    return study


def run_in_script(sweep_text: str, function: Callable[[], object], count: int | None) -> Outcome:
    """``gitexp.agent(SWEEP, function, count)``: each trial claimed as ``gitexp agent``
    claims it, and run by calling ``function`` here; the ``init()`` it calls records the
    trial's run (its group, name and values: sdk/session.py)."""
    import sys
    import traceback

    from gitexp.model.record import EXECUTOR_ENV, EXECUTOR_JOB_ENV
    from gitexp.sdk import session
    from gitexp.sdk.surface import AGENT_TRIAL
    from gitexp.share.remotes import default_remote

    def say(line: str) -> None:
        print(f"gitexp: {line}", file=sys.stderr, flush=True)

    def runner(group: str, name: str, combo: sweepmod.Combination) -> None:
        values = [(key, choice.value) for key, choice in combo]
        AGENT_TRIAL.update(group=group, name=name, values=values)
        saved = {key: os.environ.get(key) for key in (EXECUTOR_ENV, EXECUTOR_JOB_ENV)}
        job = f"{group}/{name.rpartition('-')[2]}"  # as gitexp agent's trials: SWEEP/N
        os.environ.update({EXECUTOR_ENV: "agent", EXECUTOR_JOB_ENV: job})
        try:
            function()
            session.finish()  # a function that did not finish its run
        except Exception:  # as wandb's agent: the trial fails, the next one runs
            traceback.print_exc()
            session.finish(exit_code=1)
        finally:
            AGENT_TRIAL.clear()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    with GitRepo.discover() as repo:
        root = repo.root
    remote = default_remote(root, for_push=True, named_by="gitexp.agent")
    outcome = run_agent(root, remote, sweep_text, count, say, _no_consent, runner=runner)
    say(f"agent: sweep {outcome.sweep}: {outcome.reason}")
    return outcome


def _no_consent(_sweep: str, _command: list[str]) -> None:
    return None  # the script's own function runs, not a recorded command


def _why_done(board: Board, combos: list[sweepmod.Combination], failed_here: set[int]) -> str:
    elsewhere = sum(1 for trial in board.claims if board.live(trial))
    total = len(combos) if combos else board.plan.trials
    what = "combinations" if combos else "trials"
    text = f"no trial left to claim: the sweep's {total} {what} are done or claimed"
    if elsewhere:
        text += f" ({elsewhere} claimed, finished or running)"
    if failed_here:
        text += f"; {len(failed_here)} failed here (another agent may retry them)"
    return text
