"""One rule for a metric's summary value, so that every reader shows the same number.

The summary of a key is, first match wins:

1. what the script set, ``run.summary[key] = v``;
2. the statistic ``define_metric(key or glob, summary=...)`` declared: ``min``, ``max``,
   ``mean`` (of the numbers logged), ``best`` (``min`` or ``max`` by the metric's goal),
   ``last``, or ``none`` (no summary value at all);
3. the last logged value.

The recorder applies the rule once, when it writes ``metrics.json`` (its ``summary``) and
the listing row (a metric's ``summary`` beside its ``last``); ``gitexp ls``, ``compare``,
``report`` and ``gitexp.Api`` read what it wrote (:func:`row_value` for a listing row).
A statistic that does not exist for a key (``min`` of strings) falls back to the last
value.  Runs recorded before gitexp 0.3 hold the last value (or ``run.summary[key]``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from gitexp.model.history import MetricStats

MINIMIZE, MAXIMIZE = "minimize", "maximize"
CHOICES = ("min", "max", "mean", "best", "last", "none")
# Words of a metric's name (split at anything but letters and digits) that set its default
# goal: "val/loss" and "train_mse" are minimized, "test/top5_acc" is maximized.
MINIMIZE_WORDS = frozenset(
    "loss losses error err errors mse mae rmse nll perplexity ppl wer cer fid regret "
    "latency".split()
)
MAXIMIZE_WORDS = frozenset(
    "acc accuracy f1 precision recall auc auroc map bleu rouge iou miou dice r2 reward "
    "return returns score psnr ssim".split()
)
_TOP_K = re.compile(r"^top\d+$")
_WORD = re.compile(r"[a-z0-9]+")

# A metric's entry in run.json's extra.metric_definitions: {"goal", "summary", ...} as a
# script gave them to define_metric (any JSON value; readers check what they use).
MetricDefinition = dict[str, object]


def default_goal(name: str) -> str | None:
    words = set(_WORD.findall(name.lower()))
    minimize = bool(words & MINIMIZE_WORDS)
    maximize = bool(words & MAXIMIZE_WORDS) or any(_TOP_K.match(w) for w in words)
    if minimize == maximize:
        return None  # neither, or a confusing name such as "acc_loss"
    return MINIMIZE if minimize else MAXIMIZE


def definition_for(key: str, definitions: Mapping[str, object]) -> MetricDefinition:
    """The definition of ``key``: its own, else the first glob (``val/*``) matching it."""
    found = definitions.get(key)
    if not isinstance(found, dict):
        found = next(
            (
                d
                for pattern, d in definitions.items()
                if isinstance(d, dict)
                and any(ch in pattern for ch in "*?[")
                and fnmatch.fnmatchcase(key, pattern)
            ),
            None,
        )
    return found if isinstance(found, dict) else {}


def declared_goal(key: str, definitions: Mapping[str, object]) -> str | None:
    goal = definition_for(key, definitions).get("goal")
    return goal if goal in (MINIMIZE, MAXIMIZE) else None


def statistic(stats: MetricStats, wanted: object, goal: str | None) -> tuple[bool, object]:
    """(has a summary, its value) for a logged key under ``summary=wanted``."""
    if wanted == "none":
        return False, None
    if wanted == "best":
        wanted = {MINIMIZE: "min", MAXIMIZE: "max"}.get(goal or "", "last")
    if wanted == "min" and stats.min is not None:
        return True, stats.min
    if wanted == "max" and stats.max is not None:
        return True, stats.max
    if wanted == "mean" and stats.numbers:
        return True, stats.total / stats.numbers
    return True, stats.last


def summarize(
    stats: Mapping[str, MetricStats],
    explicit: Mapping[str, object],
    definitions: Mapping[str, object],
) -> dict[str, object]:
    """The summary of every key: ``metrics.json``'s ``summary`` (the rule above)."""
    out: dict[str, object] = {}
    for key, stat in stats.items():
        definition = definition_for(key, definitions) if definitions else {}
        wanted = definition.get("summary")
        if wanted is None:
            out[key] = stat.last
            continue
        goal = declared_goal(key, definitions) or default_goal(key)
        present, value = statistic(stat, wanted, goal)
        if present:
            out[key] = value
    out.update(explicit)
    return out


def row_value(entry: object) -> object:
    """A metric's summary value from its listing-row entry (``last`` when the row has no
    ``summary``: the two agree, or the row predates 0.3)."""
    if not isinstance(entry, dict):
        return entry
    return entry["summary"] if "summary" in entry else entry.get("last")
