"""Comparing two runs: config, metrics, code and environment."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from gitexp.git.repo import GitRepo, ObjectId, TreeChange
from gitexp.model import config as configmod
from gitexp.model import values
from gitexp.read.runview import RunView
from gitexp.record import manifest

if TYPE_CHECKING:
    from typing_extensions import NotRequired

    from gitexp.record.manifest import PackageChanges

    class ConfigChanges(TypedDict):
        added: dict[str, object]
        removed: dict[str, object]
        changed: dict[str, list[object]]  # key: [value in a, value in b]

    class MetricChange(TypedDict, total=False):
        key: str
        a: object  # None when run a lacks the metric
        b: object
        delta: float  # b - a, for numbers

    class CodeChange(TypedDict, total=False):
        path: str
        change: str  # "add", "delete" or "modify"
        binary: bool
        added: int  # lines, for a text file
        removed: int

    class HardwareChange(TypedDict):
        field: str
        a: object
        b: object

    class EnvironmentChanges(TypedDict):
        packages: PackageChanges
        hardware: list[HardwareChange]
        baseline: dict[str, str | None] | None  # {"a", "b"} when the baselines differ

    class RunsDiff(TypedDict):
        a: dict[str, str]  # {"id", "name"}
        b: dict[str, str]
        config: ConfigChanges
        metrics: list[MetricChange]
        code: list[CodeChange]
        environment: EnvironmentChanges
        code_diff: NotRequired[str]  # `gitexp diff --code --json`: the unified diff
        # The runs imported from another tracker, which recorded no code: not compared.
        code_not_recorded: NotRequired[list[str]]


_MISSING = object()


def config_changes(a: Mapping[str, object], b: Mapping[str, object]) -> ConfigChanges:
    """Flattened (dotted) config keys added, removed and changed from ``a`` to ``b``."""
    fa, fb = configmod.flatten_config(a), configmod.flatten_config(b)
    return {
        "added": {k: fb[k] for k in fb if k not in fa},
        "removed": {k: fa[k] for k in fa if k not in fb},
        "changed": {k: [fa[k], fb[k]] for k in fa if k in fb and not _same(fa[k], fb[k])},
    }


def _same(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y) and type(x) is type(y)


def metric_changes(a: Mapping[str, object], b: Mapping[str, object]) -> list[MetricChange]:
    """Each summary metric of either run: both values and, for numbers, b - a."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        item: MetricChange = {
            "key": key,
            "a": None if va is _MISSING else va,
            "b": None if vb is _MISSING else vb,
        }
        if values.is_number(va) and values.is_number(vb):
            item["delta"] = vb - va
        out.append(item)
    return out


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def code_changes(repo: GitRepo, tree_a: ObjectId, tree_b: ObjectId) -> list[CodeChange]:
    """A diffstat of the two snapshots (the ``.gitexp/`` metadata left out)."""
    stats = []
    for change in repo.diff_trees(tree_a, tree_b):
        old, new = _blobs(repo, change)
        item: CodeChange = {"path": change.path, "change": change.kind}
        if _is_binary(old) or _is_binary(new):
            item["binary"] = True
        else:
            added = removed = 0
            for line in difflib.unified_diff(_lines(old), _lines(new), n=0):
                if line.startswith("+") and not line.startswith("+++"):
                    added += 1
                elif line.startswith("-") and not line.startswith("---"):
                    removed += 1
            item["added"], item["removed"] = added, removed
        stats.append(item)
    return stats


def _blobs(repo: GitRepo, change: TreeChange) -> tuple[bytes, bytes]:
    old = repo.read_blob(change.old_sha) if change.old_sha else b""
    new = repo.read_blob(change.new_sha) if change.new_sha else b""
    return old, new


def unified_code_diff(
    repo: GitRepo, tree_a: ObjectId, tree_b: ObjectId, label_a: str, label_b: str
) -> str:
    """A unified diff of the two snapshots, as ``git diff`` would show it."""
    parts: list[str] = []
    for change in repo.diff_trees(tree_a, tree_b):
        old, new = _blobs(repo, change)
        a_name = f"{label_a}/{change.path}" if change.old_sha else "/dev/null"
        b_name = f"{label_b}/{change.path}" if change.new_sha else "/dev/null"
        if _is_binary(old) or _is_binary(new):
            parts.append(f"Binary files {a_name} and {b_name} differ\n")
            continue
        diff = difflib.unified_diff(_lines(old), _lines(new), a_name, b_name)
        for line in diff:
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)


def environment_changes(a: RunView, b: RunView) -> EnvironmentChanges:
    """Packages added, removed or changed, and hardware/software differences."""
    return {
        "packages": manifest.diff_packages(a.packages, b.packages),
        "hardware": [
            {"field": label, "a": va, "b": vb}
            for label, va, vb in manifest.diff_hardware(a.hardware, b.hardware)
        ],
        "baseline": None
        if a.info.baseline == b.info.baseline
        else {"a": a.info.baseline, "b": b.info.baseline},
    }


def codeless(repo: GitRepo, a: RunView, b: RunView) -> list[str]:
    """Which of the two (``"a"``, ``"b"``) were imported from another tracker and hold no
    code: against such a run every file of the other would read added or deleted.  The
    tree is looked at too: a pulled run that only claims to be imported keeps its diff."""
    return [
        label
        for label, view in (("a", a), ("b", b))
        if view.info.imported and set(repo.tree_entries(view.root_tree)) <= _NOT_CODE
    ]


# What an imported run's tree holds: its records, and the pointer to its large files.
_NOT_CODE = {b".gitexp", b".gitexp-artifacts.dvc"}


def compare_runs(repo: GitRepo, a: RunView, b: RunView) -> RunsDiff:
    missing = codeless(repo, a, b)
    result: RunsDiff = {
        "a": {"id": a.info.id, "name": a.info.name},
        "b": {"id": b.info.id, "name": b.info.name},
        "config": config_changes(a.config, b.config),
        "metrics": metric_changes(a.summary, b.summary),
        "code": [] if missing else code_changes(repo, a.root_tree, b.root_tree),
        "environment": environment_changes(a, b),
    }
    if missing:
        result["code_not_recorded"] = missing
    return result
