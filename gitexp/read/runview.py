"""Reading one run in full from git: its record, config, metrics, snapshot and manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from gitexp.errors import FormatError
from gitexp.git.repo import MODE_TREE, GitRepo, ObjectId
from gitexp.model import config as configmod
from gitexp.model import history as historymod
from gitexp.model import values
from gitexp.model.record import FORMAT_VERSION, META_DIR, RunInfo
from gitexp.read.listing import RunEntry
from gitexp.read.trust import require
from gitexp.record import manifest

if TYPE_CHECKING:
    from gitexp.model.shapes import HardwareFile, HistoryRow, MetricsFile


@dataclass
class RunView:
    entry: RunEntry
    root_tree: ObjectId
    meta_tree: ObjectId
    info: RunInfo
    config: dict[str, object]
    metrics: MetricsFile
    snapshot: dict[str, object]  # snapshot.json (model/shapes.py: SnapshotFile)
    hardware: HardwareFile
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> list[dict[str, object]]:
        """snapshot.json's ``skipped``: the files left out of the snapshot."""
        skipped = self.snapshot.get("skipped")
        return skipped if isinstance(skipped, list) else []

    @property
    def summary(self) -> dict[str, object]:
        summary = self.metrics.get("summary")
        return summary if isinstance(summary, dict) else {}

    @property
    def media(self) -> list[dict[str, object]]:
        """The keys the run logged media under: key, type, count and last step, read from
        metrics.json (the last value of a media key is its reference)."""
        stats = self.metrics.get("metrics")
        found: list[dict[str, object]] = []
        for key, value in self.summary.items():
            if not historymod.is_media(value):
                continue
            # is_media checked the shape: a reference, or a list of them
            first = cast("dict[str, object]", value[0] if isinstance(value, list) else value)
            kind = first.get("chart") if first.get("_type") == historymod.CHART else first["_type"]
            entry = stats.get(key) if isinstance(stats, dict) else None
            entry = entry if isinstance(entry, dict) else {}
            found.append(
                {
                    "key": key,
                    "type": kind,
                    "count": entry.get("count"),
                    "last_step": entry.get("last_step"),
                }
            )
        return found


def _meta_file(repo: GitRepo, meta: dict[bytes, tuple[int, ObjectId]], name: str) -> str | None:
    found = meta.get(name.encode())
    if found is None or found[0] == MODE_TREE:
        return None
    return repo.read_blob(found[1]).decode("utf-8", "replace")


def load_run(repo: GitRepo, entry: RunEntry) -> RunView:
    """Everything ``show`` and ``diff`` need about one run (a few small blobs).

    A quarantined run (read/trust.py: checked once per commit) is a FormatError (exit 7).
    """
    require(repo, entry)
    root, _parents, _message = repo.commit_info(entry.commit)
    top = repo.tree_entries(root)
    meta_entry = top.get(META_DIR.encode())
    if meta_entry is None or meta_entry[0] != MODE_TREE:
        raise FormatError(
            f"run {entry.id} has no {META_DIR}/ folder: it was not written by gitexp",
            f"Inspect it with `git show refs/gitexp/runs/{entry.id}`.",
        )
    meta = repo.tree_entries(meta_entry[1])
    text = _meta_file(repo, meta, "run.json") or ""
    raw = _json(text)
    version = raw.get("format", FORMAT_VERSION)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise FormatError(
            f"run {entry.id} was written in format {version}; "
            f"this gitexp reads format {FORMAT_VERSION} and older",
            "Upgrade gitexp (`pip install -U gitexp`) to read it.",
        )
    try:
        info = RunInfo.from_json(text)
    except (ValueError, TypeError) as exc:
        raise FormatError(
            f"run {entry.id} has corrupted metadata (.gitexp/run.json: {exc})",
            f"Read it with `git show refs/gitexp/runs/{entry.id}:.gitexp/run.json`.",
        ) from None
    config_text = _meta_file(repo, meta, "config.yaml")
    return RunView(
        entry=entry,
        root_tree=root,
        meta_tree=meta_entry[1],
        info=info,
        config=configmod.load_yaml(config_text) if config_text else {},
        # The JSON boundary: each file as written (readers check what they rely on).
        metrics=cast("MetricsFile", _json(_meta_file(repo, meta, "metrics.json"))),
        snapshot=_json(_meta_file(repo, meta, "snapshot.json")),
        hardware=cast("HardwareFile", _json(_meta_file(repo, meta, "hardware.json"))),
        packages=manifest.parse_packages(_meta_file(repo, meta, "packages.txt") or ""),
    )


def _json(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        data = values.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_history(repo: GitRepo, view: RunView) -> list[HistoryRow]:
    """Every logged row of the run, in step order."""
    history = repo.lookup_path(view.meta_tree, b"history")
    if history is None or history[0] != MODE_TREE:
        return []
    rows: list[HistoryRow] = []
    for name, (_mode, sha) in sorted(repo.tree_entries(history[1]).items()):
        if name.endswith(b".jsonl"):
            rows.extend(historymod.parse_rows(repo.read_blob(sha)))
    return rows


def output_text(repo: GitRepo, view: RunView) -> str | None:
    data = repo.lookup_path(view.meta_tree, b"output.log")
    if data is None:
        return None
    return repo.read_blob(data[1]).decode("utf-8", "replace")
