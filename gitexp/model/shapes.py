"""The JSON shapes of the files gitexp writes (docs/format.md), for the type checker.

Import this module only under ``TYPE_CHECKING``: creating a ``TypedDict`` class costs
~0.2 ms, and the run path (``model/record.py``, ``model/history.py``) would pay it for
every shape.  At run time each shape is a plain ``dict``.

Rows and files read back from git are taken as written (``cast`` at the JSON boundary);
the types say what gitexp writes, and readers still check what a damaged file could break.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from typing_extensions import NotRequired

Scalar = str | int | float | bool | None  # a config value the listing row keeps


class RowMetric(TypedDict, total=False):
    """A metric in the listing row: its last value; ``min`` and ``max`` only for numbers."""

    last: object  # whatever was logged last (a number, string, bool, list or null)
    min: float
    max: float
    summary: object  # where define_metric's summary= differs from last (added in 0.3)


class ListingRow(TypedDict, total=False):
    """The listing row carried in every run commit's message (docs/format.md)."""

    format: int
    id: str
    name: str
    status: str
    start: float
    end: float | None
    exit_code: int | None
    baseline: str | None
    branch: str | None
    dirty: bool
    tags: list[str]
    group: str | None
    project: str | None  # init(project=...); added in 0.3
    command: list[str]
    config: dict[str, Scalar]  # flattened with ".", scalars only
    metrics: dict[str, RowMetric]
    truncated: bool  # present when config and metrics were dropped to keep the row small
    unapplied: dict[str, str]  # overrides the script did not take: key -> verdict (0.3)


class Resume(TypedDict):
    """One entry of ``run.json``'s ``resumes``: when and how the run was resumed."""

    time: float
    from_step: int
    code_changed: bool
    snapshot: str | None  # the new snapshot's tree id when the code changed
    host: str


HistoryRow = dict[str, object]  # logged keys plus "_step", "_time", "_runtime"


class MetricSummary(TypedDict, total=False):
    """One key of ``metrics.json``'s ``metrics``; ``min``/``max`` and their steps only for
    numbers."""

    last: object
    last_step: int
    count: int
    min: float
    min_step: int
    max: float
    max_step: int


class MetricsFile(TypedDict, total=False):
    """``.gitexp/metrics.json`` (docs/format.md)."""

    format: int
    steps: int
    last_step: int | None
    summary: dict[str, object]  # model/summary.py's rule: run.summary[key], define_metric, last
    explicit: list[str]  # the keys the script set with run.summary[key] (added in 0.3)
    metrics: dict[str, MetricSummary]


class CpuInfo(TypedDict):
    model: str | None
    logical_cores: int | None
    physical_cores: int | None


class PythonInfo(TypedDict):
    version: str
    implementation: str
    executable: str | None


class ExecutorInfo(TypedDict):
    """``hardware.json``'s ``host.executor``: the sweep executor that started the run."""

    name: str
    node: str | None
    job_id: str | None


class HostInfo(TypedDict):
    """``hardware.json``'s ``host``: this machine and interpreter."""

    os: str | None
    os_release: str | None
    os_pretty: str | None
    hostname: str | None
    machine: str | None
    cpu: CpuInfo
    memory_bytes: int | None
    python: PythonInfo
    env: dict[str, str]  # only the allowlisted variables
    executor: NotRequired[ExecutorInfo]  # only in a sweep's trials (added in 0.3)


class GpuDevice(TypedDict):
    index: int | str  # nvidia-smi's text when it is not a number
    name: str
    memory_bytes: int | None
    uuid: str | None


class GpuInfo(TypedDict):
    """``hardware.json``'s ``gpu``: the GPUs NVML or ``nvidia-smi`` listed."""

    gpus: list[GpuDevice]
    driver_version: str | None
    cuda_version: str | None
    source: str | None  # "nvml", "nvidia-smi", or None when no tool was found
    error: str | None


class HardwareFile(TypedDict, total=False):
    """``.gitexp/hardware.json``; ``gpu`` is null in the start commit."""

    host: HostInfo
    gpu: GpuInfo | None


class SnapshotFile(TypedDict, total=False):
    """``.gitexp/snapshot.json``: counts of changed files and the files left out."""

    dirty: bool
    modified: int
    deleted: int
    untracked: int
    skipped: list[dict[str, object]]  # {path, reason, size?, md5?, artifact?}
    submodules: list[dict[str, object]]  # {path, commit, dirty}; added in 0.3


class LiveState(TypedDict, total=False):
    """The live folder's ``state.json``: what a recorder needs to go on."""

    snapshot_tree: str
    cli_fields: list[str]  # fields the command line set, which a script may not change
    snapshot: SnapshotFile
    summary_base: dict[str, object]  # a resumed run's run.summary values from before
    allow_secret: list[str]  # git config gitexp.allowSecret: values kept though they look secret
    passed: list[str]  # config keys a ${args} macro put on the command line (model/macros.py)
    left_out: list[dict[str, object]]  # paths the script named as outputs: {path, reason}


class InputsFile(TypedDict):
    """``.gitexp/inputs.json``: a fingerprint of the ignored inputs."""

    format: int
    count: int
    truncated: bool
    skipped: list[str]
    files: list[list[str | int]]  # [path, size in bytes, mtime in ns]


class HistogramValue(TypedDict, total=False):
    """A logged ``gitexp.Histogram`` as a history row holds it."""

    _type: str  # "histogram"
    bins: list[float]  # edges, one more than counts
    counts: list[int]
    nonfinite: int  # NaN and infinite values left out of the bins


class ArtifactEntry(TypedDict, total=False):
    """One entry of ``.gitexp/artifacts.json``'s ``artifacts``."""

    path: str  # relative to the repository root, "/"-separated
    kind: str  # "output", "logged" or "large-file"
    md5: str  # DVC's object id (a folder's ends in ".dir")
    size: int
    nfiles: int | None  # a folder's (null when it was never counted)
    isexec: bool  # present and true for an executable file
    name: str  # as given to log_artifact
    type: str
