"""MLflow runs as gitexp runs: ``gitexp import mlflow PATH|URI``.

Read through MLflow's own client (``MlflowClient``), so every store MLflow reads works
the same: a file store (``mlruns/``, ``file:...``) and a database (``sqlite:///...``).
Params become the config, metric histories the history (one row per step, metrics
logged at the same step merged), tags the run's tags and notes, artifacts files of the
run (docs/integrations.md, "Importing and exporting").
"""

from __future__ import annotations

import os
from typing import Any

from gitexp.errors import UsageError
from gitexp.importers.write import MAX_KEPT_FILE, ImportedRun
from gitexp.model.record import CRASHED, FAILED, FINISHED, KILLED

_STATUS = {"FINISHED": FINISHED, "FAILED": FAILED, "KILLED": KILLED}
# Tags MLflow sets itself: read into run fields, not kept as user tags.
_SYSTEM_TAG = "mlflow."
MAX_ARTIFACT_FILES = 200


def tracking_uri(given: str) -> str:
    """A folder (``mlruns``) as a ``file:`` URI; a URI as given."""
    if "://" in given or given.startswith("file:"):
        return given
    if not os.path.isdir(given):
        raise UsageError(
            f"{given} is neither an MLflow store folder nor a tracking URI",
            "Name the mlruns/ folder or a URI such as sqlite:///mlflow.db.",
        )
    return "file:" + os.path.abspath(given)


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UsageError(
            "importing from MLflow needs the mlflow package, which is not installed",
            "Install it: pip install mlflow-skinny (plus sqlalchemy and alembic for sqlite "
            "stores).",
        ) from None
    # MLflow 3 refuses to open a file store unless told to: reading old runs is exactly
    # what the opt-out is for.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # MLflow's own errors: a store it cannot open, a bad URI
        raise cannot_read(uri, exc) from None


def cannot_read(given: str, exc: Exception) -> UsageError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UsageError(
        f"MLflow could not read {given}: {first[:300]}",
        "Check the store: `mlflow ui --backend-store-uri URI` should show its runs.",
    )


def import_store(given: str) -> list[ImportedRun]:
    """Every run of every experiment in the store (deleted ones too: MLflow keeps them)."""
    uri = tracking_uri(given)
    client = _client(uri)
    runs: list[ImportedRun] = []
    try:
        for experiment in client.search_experiments():
            for run in _all_runs(client, experiment.experiment_id):
                runs.append(_imported(client, uri, experiment.name, run))
    except Exception as exc:  # MLflow's own errors (a store it cannot open, a bad URI)
        raise cannot_read(given, exc) from None
    return runs


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def _imported(client: Any, uri: str, experiment: str, run: Any) -> ImportedRun:
    info, data = run.info, run.data
    run_tags: dict[str, str] = dict(data.tags)
    rows: dict[int, dict[str, Any]] = {}
    for key in data.metrics:
        for metric in client.get_metric_history(info.run_id, key):
            row = rows.setdefault(int(metric.step), {})
            row[key] = metric.value
            row["_time"] = max(float(row.get("_time", 0.0)), metric.timestamp / 1000)
    start = (info.start_time or 0) / 1000
    end = info.end_time / 1000 if info.end_time else None
    for row in rows.values():
        row["_runtime"] = max(0.0, float(row["_time"]) - start)
    status = _STATUS.get(str(info.status), CRASHED)  # RUNNING or SCHEDULED: never ended
    command = [run_tags["mlflow.source.name"]] if run_tags.get("mlflow.source.name") else []
    imported = ImportedRun(
        source="mlflow",
        original_id=str(info.run_id),
        path=uri,
        name=str(info.run_name or run_tags.get("mlflow.runName") or info.run_id),
        start=start,
        end=end,
        status=status,
        project=experiment,
        tags=sorted(k if v in ("", "true") else f"{k}={v}" for k, v in _user_tags(run_tags)),
        notes=run_tags.get("mlflow.note.content"),
        command=command,
        host=None,
        config=_params(dict(data.params)),
        rows=[{"_step": step, **row} for step, row in sorted(rows.items())],
        baseline=run_tags.get("mlflow.source.git.commit"),
    )
    _artifacts(client, info.run_id, imported)
    if status == CRASHED:
        imported.notes_for_user.append(f"MLflow says it is {info.status}: imported as crashed")
    return imported


def _user_tags(tags: dict[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in tags.items() if not k.startswith(_SYSTEM_TAG)]


def _params(params: dict[str, str]) -> dict[str, Any]:
    """MLflow keeps params as strings; numbers and booleans are read back as such, so a
    config compares with the runs gitexp recorded itself."""
    from gitexp.model.config import parse_override

    config: dict[str, Any] = {}
    for key, text in params.items():
        try:
            _path, value = parse_override(f"{key}={text}")
        except Exception:
            value = text
        config[key] = value
    return config


def _artifacts(client: Any, run_id: str, run: ImportedRun) -> None:
    """The run's artifacts: up to ``MAX_KEPT_FILE`` each as files of the imported run,
    larger ones as DVC artifacts (importers/artifacts.py)."""
    pending = [""]
    listed = 0
    while pending and listed < MAX_ARTIFACT_FILES:
        folder = pending.pop()
        for item in client.list_artifacts(run_id, folder or None):
            listed += 1
            if item.is_dir:
                pending.append(item.path)
            elif (item.file_size or 0) <= MAX_KEPT_FILE:
                local = client.download_artifacts(run_id, item.path)
                with open(local, "rb") as handle:
                    run.files[f"artifacts/{item.path}"] = handle.read()
            else:  # into DVC's cache when the repository has a DVC project
                run.large_files[item.path] = client.download_artifacts(run_id, item.path)
