"""Does the sweep's command take its overrides?  Asked of the first trial before the rest.

A sweep of a script that parses its own arguments, started without ``${args}``, would
run the whole grid with the script's defaults and record it as many configs.  So the
first trial runs alone until its overrides are judged (model/overrides.py): all applied
lets the others start (often seconds in, when the script calls ``gitexp.init``); a first
trial that finished with an override unapplied stops the sweep with the hint; one left
unverified (the program does not use gitexp; it may read ``GITEXP_CONFIG``) lets the
sweep go on, its trials warned; one whose overrides only equal what the script reported
(perhaps its defaults) hands the question to the next trial.  A first trial that failed
lets the sweep go on as before: its failure says nothing about the overrides.
"""

from __future__ import annotations

import os

from gitexp.git.repo import GitRepo
from gitexp.model import overrides as overridesmod
from gitexp.model.record import FINISHED, RUNNING
from gitexp.read.listing import list_runs
from gitexp.record.live import LiveDir, live_root

WAIT, GO, STOP = "wait", "go", "stop"


def group_ids(repo: GitRepo, group: str) -> frozenset[str]:
    """The runs the group holds now: a sweep started again names its trials as before,
    and the first trial's verdict must come from its own run, not an earlier one's."""
    return frozenset(e.id for e in list_runs(repo) if e.row.get("group") == group)


def first_trial(
    repo: GitRepo, group: str, name: str, earlier: frozenset[str] = frozenset()
) -> tuple[str, dict[str, object]]:
    """``WAIT``, ``GO`` or ``STOP`` for the trial named ``name``, and its overrides' verdicts.

    ``earlier``: ids of runs that were there before the sweep started (:func:`group_ids`),
    never the trial's.

    ``GO`` once every override is confirmed (read, or passed by a macro), or the trial
    finished with one unverified; ``STOP`` when it finished with one unapplied; ``WAIT``
    otherwise, also for a finished trial whose overrides merely equal what the script
    reported (its defaults, perhaps): the next trial is then held back in its turn.
    """
    entry = next(
        (
            e
            for e in list_runs(repo)
            if e.row.get("group") == group and e.row.get("name") == name and e.id not in earlier
        ),
        None,
    )
    if entry is None:
        return WAIT, {}
    if entry.status == RUNNING:
        return _live_verdict(LiveDir(os.path.join(live_root(repo.commondir), entry.id)))
    from gitexp.read.runview import load_run

    overrides = load_run(repo, entry).info.overrides
    if entry.status != FINISHED:
        return GO, overrides
    entries = [e for e in overrides.values() if isinstance(e, dict)]
    if any(e.get("status") == overridesmod.UNAPPLIED for e in entries):
        return STOP, overrides
    if all(overridesmod.confirmed(e) for e in entries) or any(
        e.get("status") == overridesmod.UNVERIFIED for e in entries
    ):
        # Unverified: a program that does not use gitexp (it may read GITEXP_CONFIG)
        # cannot say more; its trials warn, and the sweep goes on as it always did.
        return GO, overrides
    return WAIT, overrides


def _live_verdict(live: LiveDir) -> tuple[str, dict[str, object]]:
    given = live.read_json("params.json")
    state = live.read_json("state.json") or {}
    if not isinstance(given, dict) or not given:
        return GO, {}
    results = overridesmod.verdicts(
        given, live.read_json("overrides.json"), frozenset(state.get("passed") or ())
    )
    entries: dict[str, object] = {v.path: v.as_json() for v in results}
    taken = all(overridesmod.confirmed(v.as_json()) for v in results)
    return (GO if taken else WAIT), entries
