"""Words for overrides a script did not take (model/overrides.py): in show and after a run."""

from __future__ import annotations

from collections.abc import Mapping

from gitexp.model.overrides import doubtful
from gitexp.render.cells import fmt_value

HINT = (
    "A program that parses its own arguments gets the overrides only through macros: "
    "gitexp run -p lr=0.1 -- python train.py '${args}' (Hydra: '${args_no_hyphens}'); "
    "see docs/workflow.md#passing-config-to-a-program"
)


def describe(path: str, entry: Mapping[str, object]) -> str | None:
    """One override's problem in words, or None when the script took it."""
    status = entry.get("status")
    given = f"{path}={fmt_value(entry.get('value'))}"
    if status == "unapplied":
        return (
            f"{given} not applied: the script reported {fmt_value(entry.get('reported'))} "
            "(recorded as such)"
        )
    if status == "unverified":
        passed = " (passed on the command line)" if entry.get("passed") else ""
        return (
            f"{given} unverified{passed}: the script neither read it through gitexp.config "
            "nor reported it"
        )
    return None


def problems(overrides: Mapping[str, object]) -> list[str]:
    """Every override the script did not take, described; empty when all were taken."""
    out = []
    for path, entry in overrides.items():
        if isinstance(entry, Mapping):
            text = describe(path, entry)
            if text:
                out.append(text)
    return out


def needs_hint(overrides: Mapping[str, object]) -> bool:
    """Whether the macros would help: an override the program shows no sign of taking."""
    return any(isinstance(e, Mapping) and doubtful(e) for e in overrides.values())
