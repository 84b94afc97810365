"""Did a rerun reproduce its original?  Summary metrics compared, differences explained.

The original is the reference: a number reproduces within tolerance when
``|rerun - original| <= atol + rtol * |original|`` (numpy's ``isclose`` with the
original as ``b``).  With the defaults (``rtol = atol = 0``) only identical values pass.
NaN equals NaN; strings, bools and other values must be equal.  A metric only one run
has is a difference.  Timing metrics are left out unless asked for: they change on every
run and say nothing about the result.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from gitexp.git.repo import GitRepo
from gitexp.model import values
from gitexp.model.record import FINISHED
from gitexp.read.diff import config_changes
from gitexp.read.runview import RunView
from gitexp.record import inputs as inputsmod
from gitexp.record import manifest

if TYPE_CHECKING:
    from gitexp.read.compare import MetricDefinition

    class MetricComparison(TypedDict, total=False):
        key: str
        original: object  # None when only the rerun has the metric
        rerun: object
        status: str  # "same", "within", "different", "missing in rerun", "new in rerun"
        delta: float  # rerun - original, for numbers


IDENTICAL = "identical"
WITHIN = "within tolerance"
DIFFERENT = "different"
FAILED = "the rerun failed"

# Words that mark a metric as a measurement of time or speed ("epoch_time",
# "tokens/sec", "_runtime"); matched against the key's parts split at anything but
# letters and digits, so "timesteps" (a count) or "ms_ssim" (a quality) are not caught.
_TIMING_WORDS = frozenset(
    "time runtime duration elapsed sec secs seconds latency throughput fps walltime "
    "wallclock timestamp".split()
)
_TIMING_SUFFIXES = ("/s", "_ms", "/ms")
_SPLIT = re.compile(r"[^a-z0-9]+")
_MISSING = object()


def is_timing(key: str, definitions: Mapping[str, MetricDefinition]) -> bool:
    """A timing metric: declared with ``define_metric(name, timing=True)`` or named like one."""
    for pattern, definition in definitions.items():
        timing = definition.get("timing") if isinstance(definition, dict) else None
        if timing is not None and fnmatch.fnmatchcase(key, pattern):
            return bool(timing)
    lowered = key.lower()
    if lowered.startswith("_") or lowered.endswith(_TIMING_SUFFIXES) or "per_sec" in lowered:
        return True
    return any(word in _TIMING_WORDS for word in _SPLIT.split(lowered))


def metric_definitions(view: RunView) -> dict[str, MetricDefinition]:
    extra = view.info.extra
    found = extra.get("metric_definitions")
    nested = extra.get("extra")
    if not isinstance(found, dict) and isinstance(nested, dict):
        found = nested.get("metric_definitions")
    return found if isinstance(found, dict) else {}


@dataclass
class Verdict:
    verdict: str
    metrics: list[MetricComparison] = field(default_factory=list)  # compared, with status
    excluded: list[str] = field(default_factory=list)  # timing or --ignore-metric keys
    explain: dict[str, object] = field(default_factory=dict)

    @property
    def differing(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m["status"] != "same"]


def _close(a: object, b: object, rtol: float, atol: float) -> str:
    """``same``, ``within`` or ``different`` for original ``a`` and rerun ``b``."""
    if values.is_number(a) and values.is_number(b):
        fa, fb = float(a), float(b)
        if fa == fb or (math.isnan(fa) and math.isnan(fb)):
            return "same"
        if math.isfinite(fa) and math.isfinite(fb) and abs(fb - fa) <= atol + rtol * abs(fa):
            return "within"
        return "different"
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        parts = [_close(x, y, rtol, atol) for x, y in zip(a, b, strict=True)]
        if "different" in parts:
            return "different"
        return "within" if "within" in parts else "same"
    return "same" if type(a) is type(b) and a == b else "different"


def compare_metrics(
    original: Mapping[str, object],
    rerun: Mapping[str, object],
    *,
    rtol: float,
    atol: float,
    include_timing: bool,
    ignore: list[str],
    definitions: Mapping[str, MetricDefinition],
) -> tuple[list[MetricComparison], list[str]]:
    compared: list[MetricComparison] = []
    excluded: list[str] = []
    for key in sorted(set(original) | set(rerun)):
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in ignore) or (
            not include_timing and is_timing(key, definitions)
        ):
            excluded.append(key)
            continue
        a, b = original.get(key, _MISSING), rerun.get(key, _MISSING)
        item: MetricComparison = {
            "key": key,
            "original": None if a is _MISSING else a,
            "rerun": None if b is _MISSING else b,
        }
        if a is _MISSING or b is _MISSING:
            item["status"] = "missing in rerun" if b is _MISSING else "new in rerun"
        else:
            item["status"] = _close(a, b, rtol, atol)
            if values.is_number(a) and values.is_number(b):
                item["delta"] = b - a
        compared.append(item)
    return compared, excluded


def judge(
    repo: GitRepo,
    original: RunView,
    rerun: RunView,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    include_timing: bool = False,
    ignore: list[str] | None = None,
    inputs_now: Mapping[str, object] | None = None,
    inputs_then: Mapping[str, object] | None = None,
) -> Verdict:
    definitions = {**metric_definitions(original), **metric_definitions(rerun)}
    metrics, excluded = compare_metrics(
        original.summary,
        rerun.summary,
        rtol=rtol,
        atol=atol,
        include_timing=include_timing,
        ignore=list(ignore or []),
        definitions=definitions,
    )
    statuses = {m["status"] for m in metrics}
    if rerun.info.status != FINISHED:
        verdict = FAILED
    elif statuses - {"same", "within"}:
        verdict = DIFFERENT
    elif "within" in statuses:
        verdict = WITHIN
    else:
        verdict = IDENTICAL
    return Verdict(
        verdict, metrics, excluded, explain(repo, original, rerun, inputs_then, inputs_now)
    )


def explain(
    repo: GitRepo,
    original: RunView,
    rerun: RunView,
    inputs_then: Mapping[str, object] | None,
    inputs_now: Mapping[str, object] | None,
) -> dict[str, object]:
    """The differences between the two runs' records that may explain a different result."""
    out: dict[str, object] = {}
    config = config_changes(original.config, rerun.config)
    if any(config.values()):
        out["config"] = config
    code = [
        {"path": c.path, "change": c.kind}
        for c in repo.diff_trees(original.root_tree, rerun.root_tree)
    ]
    if code:
        out["code"] = code
    if original.packages and rerun.packages:
        packages = manifest.diff_packages(original.packages, rerun.packages)
        if any(packages.values()):
            out["packages"] = packages
    else:
        out["packages_unknown"] = "the package list of one run was not recorded"
    hardware = manifest.diff_hardware(original.hardware, rerun.hardware)
    if hardware:
        out["hardware"] = [{"field": label, "original": a, "rerun": b} for label, a, b in hardware]
    if original.info.baseline != rerun.info.baseline:
        out["baseline"] = {"original": original.info.baseline, "rerun": rerun.info.baseline}
    if inputs_then is None:
        out["inputs_unknown"] = "the original run recorded no inputs fingerprint"
    else:
        changed = inputsmod.diff_inputs(inputs_then, inputs_now)
        if changed:
            out["inputs"] = changed
    return out
