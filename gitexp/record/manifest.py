"""The hardware/software manifest recorded with every run: host, GPUs, packages.

* :func:`collect_host` is on every run's start-up path: it reads a few small files and starts
  no subprocess (``platform.processor()`` would run ``uname -p`` on Linux).
* :func:`collect_gpus` may take seconds (NVML, ``nvidia-smi``); callers run it in a thread.
* :func:`collect_packages` parses ``sys.path`` directory names instead of opening every
  METADATA file, which is what makes ``importlib.metadata`` slow.

Environment variables can hold secrets: only :data:`ENV_ALLOWLIST` values are recorded.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from types import ModuleType

from gitexp.model.record import EXECUTOR_ENV, EXECUTOR_JOB_ENV
from gitexp.render.words import plural
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypedDict

    from gitexp.model.shapes import GpuDevice, GpuInfo, HostInfo

    class PackageChanges(TypedDict):
        added: dict[str, str]
        removed: dict[str, str]
        changed: dict[str, list[str]]  # name: [version in a, version in b]


#: The only environment variables whose values are recorded: they change results.
# fmt: off
ENV_ALLOWLIST: tuple[str, ...] = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "WORLD_SIZE", "RANK", "LOCAL_RANK",
    "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "NVIDIA_VISIBLE_DEVICES",
    "TORCH_CUDNN_V8_API_ENABLED", "CUBLAS_WORKSPACE_CONFIG",
)
# fmt: on

_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalVM"}
_RELEASE_LEVELS = {"alpha": "a", "beta": "b", "candidate": "rc"}
# Keys naming the CPU in /proc/cpuinfo: x86, then ARM, MIPS and POWER kernels.
_CPU_MODEL_KEYS = ("model name", "Processor", "cpu model", "cpu")
_NVML_LIBRARY_NOT_FOUND = 12  # NVML_ERROR_LIBRARY_NOT_FOUND: no NVIDIA driver installed
_GPU_LOCK = threading.Lock()  # serialises NVML init/shutdown across collector threads


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _os_pretty() -> str | None:
    text = _read_text("/etc/os-release") or _read_text("/usr/lib/os-release")  # os-release(5)
    for line in (text or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip("\"'") or None
    return None


def _cpu_info() -> tuple[str | None, int | None]:
    """CPU model and physical core count from /proc/cpuinfo (None where unknown)."""
    text = _read_text("/proc/cpuinfo")
    if text is None:
        if sys.platform == "win32":  # cheap there: platform reads an environment variable
            import platform

            return platform.processor() or None, None
        return None, None
    model: str | None = None
    cores: set[tuple[str, str]] = set()
    physical_id = "0"  # single-socket kernels may omit "physical id"
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
        elif key == "processor":
            physical_id = "0"
        if model is None and key in _CPU_MODEL_KEYS and value and not value.isdigit():
            model = value  # ARM's "processor : 0" is an index, hence the isdigit test
    return model, (len(cores) or None)


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def _python_version() -> str:
    """What ``platform.python_version()`` says ("3.13.0rc1"), without importing platform."""
    v = sys.version_info
    if v.releaselevel == "final":
        return f"{v.major}.{v.minor}.{v.micro}"
    return f"{v.major}.{v.minor}.{v.micro}{_RELEASE_LEVELS.get(v.releaselevel, '')}{v.serial}"


def collect_host() -> HostInfo:
    """Describe this machine and interpreter; cheap enough for every run's start-up."""
    if hasattr(os, "uname"):
        u = os.uname()
        system, release, node, machine = u.sysname, u.release, u.nodename, u.machine
    else:  # Windows: platform.uname() there needs no subprocess for these fields
        import platform

        system, release = platform.system(), platform.release()
        node, machine = platform.node(), platform.machine()
    model, physical = _cpu_info()
    impl = sys.implementation.name
    host: HostInfo = {
        "os": system or None,
        "os_release": release or None,
        "os_pretty": _os_pretty(),
        "hostname": node or None,
        "machine": machine or None,
        "cpu": {"model": model, "logical_cores": os.cpu_count(), "physical_cores": physical},
        "memory_bytes": _memory_bytes(),
        "python": {
            "version": _python_version(),
            "implementation": _IMPLEMENTATIONS.get(impl, impl),
            "executable": sys.executable or None,
        },
        "env": {k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ},
    }
    executor = os.environ.get(EXECUTOR_ENV)
    if executor:  # a sweep's trial: which executor started it, where, as which job
        job = os.environ.get(EXECUTOR_JOB_ENV) or os.environ.get("SLURM_JOB_ID")
        host["executor"] = {"name": executor[:64], "node": node or None, "job_id": job or None}
    return host


def _gpu_result(
    gpus: list[GpuDevice], driver: str | None, cuda: str | None, source: str | None
) -> GpuInfo:
    return dict(gpus=gpus, driver_version=driver, cuda_version=cuda, source=source, error=None)


def _no_gpus(error: str | None = None, source: str | None = None) -> GpuInfo:
    return {**_gpu_result([], None, None, source), "error": error}


def _gpu(index: int | str, name: str, memory: int | None, uuid: str | None) -> GpuDevice:
    return {"index": index, "name": name, "memory_bytes": memory, "uuid": uuid}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)  # old pynvml: bytes


def _from_nvml(nvml: ModuleType) -> GpuInfo:
    nvml.nvmlInit()
    try:
        gpus = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name, uuid = _text(nvml.nvmlDeviceGetName(h)), _text(nvml.nvmlDeviceGetUUID(h))
            gpus.append(_gpu(i, name, int(nvml.nvmlDeviceGetMemoryInfo(h).total), uuid))
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda_int = int(nvml.nvmlSystemGetCudaDriverVersion())  # e.g. 12040 for 12.4
        cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
        return _gpu_result(gpus, driver, cuda, "nvml")
    finally:
        nvml.nvmlShutdown()


def parse_nvidia_smi(csv_text: str, header: str = "") -> GpuInfo:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,uuid,driver_version`` output
    (csv, noheader, nounits; memory in MiB) plus the plain ``nvidia-smi`` header."""
    gpus: list[GpuDevice] = []
    driver = None
    for line in csv_text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 5:
            continue
        # Split from both ends so that a comma inside the GPU name cannot shift fields.
        index, name, (mem, uuid, driver) = fields[0], ", ".join(fields[1:-3]), fields[-3:]
        memory = int(mem) * 1024 * 1024 if mem.isdigit() else None  # "[N/A]" on some boards
        idx = int(index) if index.isdigit() else index
        gpus.append(_gpu(idx, name, memory, uuid if uuid.startswith("GPU-") else None))
    m = re.search(r"CUDA Version:\s*([0-9.]+)", header)
    return _gpu_result(gpus, driver, m.group(1) if m else None, "nvidia-smi")


def _from_nvidia_smi(exe: str, timeout: float) -> GpuInfo:
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    query = "--query-gpu=index,name,memory.total,uuid,driver_version"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if out.returncode != 0:
            detail = (out.stderr or out.stdout).strip().splitlines()
            if detail and detail[0].startswith("No devices were found"):  # driver, no GPU
                return _no_gpus(None, "nvidia-smi")
            msg = f"nvidia-smi exited with {out.returncode}"
            return _no_gpus(f"{msg}: {detail[0][:200]}" if detail else msg)
        header = ""
        try:  # the CUDA version is only printed in the plain table's header
            plain = subprocess.run(
                [exe], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                timeout=max(0.1, deadline - time.monotonic()),
            )  # fmt: skip
            header = plain.stdout
        except (OSError, subprocess.SubprocessError):
            pass  # GPUs are known; a missing CUDA version is not worth an error
        return parse_nvidia_smi(out.stdout, header)
    except subprocess.TimeoutExpired:
        return _no_gpus(f"nvidia-smi timed out after {timeout:g}s")
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return _no_gpus(f"nvidia-smi failed: {e}"[:300])


def _on_path(program: str) -> str | None:
    """``shutil.which`` for one program name: shutil imports bz2 and lzma (~1.5 ms of
    every run's start-up, in the manifest thread that shares the GIL with it)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or os.curdir, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def collect_gpus(timeout: float = 5.0) -> GpuInfo:
    """List NVIDIA GPUs through NVML, else ``nvidia-smi``; never raises.

    No NVIDIA software is recorded as no GPUs with ``error`` None; a tool that is present
    but fails gives no GPUs and a short ``error``.  Both tools list every GPU regardless of
    ``CUDA_VISIBLE_DEVICES``, which :func:`collect_host` records separately.
    """
    with _GPU_LOCK:
        nvml_error: str | None = None
        try:
            import pynvml  # nvidia-ml-py: optional, never a dependency of gitexp

            return _from_nvml(pynvml)
        except ImportError:
            pass
        except Exception as e:  # NVMLError, or anything odd in a third-party binding
            if getattr(e, "value", None) != _NVML_LIBRARY_NOT_FOUND:
                nvml_error = f"NVML: {e}"[:300]
        exe = _on_path("nvidia-smi")
        if exe is None:
            return _no_gpus(nvml_error)
        return _from_nvidia_smi(exe, timeout)


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# "Name-1.2.3[-py3.11[-platform]].(dist|egg)-info": the version starts at the first '-'
# followed by a digit, which also copes with legacy names that kept their hyphens.
_DIST_RE = re.compile(r"^(?P<name>.+?)-(?P<version>\d[^-]*)(?:-.*)?\.(?:dist|egg)-info$", re.I)


def _metadata_headers(path: str) -> tuple[str, str]:
    """Name and Version headers of a dist-info/egg-info directory, or of an egg-info file."""
    for meta in (os.path.join(path, "METADATA"), os.path.join(path, "PKG-INFO"), path):
        text = _read_text(meta)  # None when missing, or when ``path`` is a directory
        if text is not None:
            head = [line.partition(":") for line in text.partition("\n\n")[0].splitlines()]
            fields = {key: value.strip() for key, _, value in head}
            return fields.get("Name", ""), fields.get("Version", "")
    return "", ""


def collect_packages() -> list[tuple[str, str]]:
    """Installed distributions of this interpreter as sorted ``(canonical name, version)``.

    Like ``import``, the first distribution of a name along ``sys.path`` wins.
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                names = sorted(e.name for e in it)
        except OSError:  # missing directory, zip file (eggs and zips are not scanned), ...
            continue
        for dirname in names:
            if not dirname.lower().endswith((".dist-info", ".egg-info")):
                continue
            m = _DIST_RE.match(dirname)
            # No version in the name, e.g. "project.egg-info" of a development install.
            name, version = m.groups() if m else _metadata_headers(os.path.join(entry, dirname))
            if name and version:
                found.setdefault(canonical_name(name), version)
    return sorted(found.items())  # canonical names are lowercase, so this is case-insensitive


def format_packages(pkgs: Iterable[tuple[str, str]]) -> str:
    """The ``packages.txt`` text: one ``name==version`` line per package."""
    return "".join(f"{name}=={version}\n" for name, version in pkgs)


def parse_packages(text: str) -> dict[str, str]:
    """Inverse of :func:`format_packages`; blank lines and lines without ``==`` are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name:
            out[name.strip()] = version.strip()
    return out


def diff_packages(a: Mapping[str, str], b: Mapping[str, str]) -> PackageChanges:
    """What changed from package set ``a`` to ``b``."""
    return {
        "added": {n: b[n] for n in sorted(b.keys() - a.keys())},
        "removed": {n: a[n] for n in sorted(a.keys() - b.keys())},
        "changed": {n: [a[n], b[n]] for n in sorted(a.keys() & b.keys()) if a[n] != b[n]},
    }


def _get(d: object, *keys: str) -> object:
    for key in keys:
        d = d.get(key) if isinstance(d, Mapping) else None
    return d


def _gpu_names(manifest: Mapping[str, object]) -> list[str]:
    gpus = _get(manifest, "gpu", "gpus")
    if not isinstance(gpus, list):
        return []
    return [str(g.get("name")) for g in gpus if isinstance(g, Mapping)]


def _mapping(value: object) -> Mapping[str, object]:
    """``value`` when it is a mapping (a part of a manifest read back), else ``{}``."""
    return value if isinstance(value, Mapping) else {}


_HARDWARE_FIELDS = (
    *("os", "os_release", "cpu.model", "cpu.logical_cores", "memory_bytes"),
    *("python.version", "python.implementation", "gpu.names"),
    *("gpu.driver_version", "gpu.cuda_version"),
)


def _hardware_field(manifest: Mapping[str, object], label: str) -> object:
    """The value that :func:`diff_hardware` labels ``label`` ("cpu.model" is host.cpu.model)."""
    if label == "gpu.names":
        return _gpu_names(manifest)
    if label.startswith("gpu."):
        return _get(manifest, *label.split("."))
    return _get(manifest, "host", *label.split("."))


def diff_hardware(
    a: Mapping[str, object], b: Mapping[str, object]
) -> list[tuple[str, object, object]]:
    """Fields of two ``{"host": ..., "gpu": ...}`` manifests that may change a result.

    Returns ``(label, a value, b value)`` per difference; the hostname comes last since
    it rarely matters by itself.  Memory within 1% counts as equal: kernels reserve
    slightly different amounts of the same RAM.
    """
    env_a, env_b = _mapping(_get(a, "host", "env")), _mapping(_get(b, "host", "env"))
    extra = sorted((env_a.keys() | env_b.keys()) - set(ENV_ALLOWLIST))  # from older manifests
    labels = [*_HARDWARE_FIELDS, *(f"env.{v}" for v in (*ENV_ALLOWLIST, *extra)), "hostname"]
    out: list[tuple[str, object, object]] = []
    for label in labels:
        x, y = (_hardware_field(m, label) for m in (a, b))
        if x == y:
            continue
        if (
            label == "memory_bytes"
            and isinstance(x, int)
            and isinstance(y, int)
            and abs(x - y) <= 0.01 * max(x, y)
        ):
            continue
        out.append((label, x, y))
    return out


def summarize(manifest: Mapping[str, object]) -> str:
    """One human line, e.g. ``Linux 6.1 x86_64 · Intel Xeon (2 cores) · 23.4 GiB RAM · ...``."""
    host, gpu = _mapping(manifest.get("host")), _mapping(manifest.get("gpu"))
    cpu, python = _mapping(host.get("cpu")), _mapping(host.get("python"))
    release = re.match(r"\d+\.\d+", str(host.get("os_release") or ""))  # "6.1.0-18-amd64"
    os_bits = (host.get("os"), release and release.group(), host.get("machine"))
    model = str(cpu.get("model") or "")
    model = re.sub(r"\((R|TM)\)| CPU\b", "", model, flags=re.I) or "unknown CPU"
    logical, physical = cpu.get("logical_cores"), cpu.get("physical_cores")
    logical = logical if isinstance(logical, int) else None
    physical = physical if isinstance(physical, int) else None
    cores = plural(logical, "core") if logical else "? cores"
    if logical and physical and physical != logical:
        cores = f"{plural(physical, 'core')}, {plural(logical, 'thread')}"
    parts = [
        " ".join(str(b) for b in os_bits if b) or "unknown OS",
        f"{' '.join(model.split())} ({cores})",
    ]
    memory = host.get("memory_bytes")
    if memory and isinstance(memory, (int, float)):
        parts.append(f"{memory / 2**30:.1f} GiB RAM")
    impl = python.get("implementation")
    parts.append(
        f"{'Python' if impl in (None, 'CPython') else impl} {python.get('version') or '?'}"
    )
    if names := _gpu_names(manifest):
        kinds = " + ".join(f"{n}x {name}" for name, n in Counter(names).items())
        versions = (("driver", "driver_version"), ("CUDA", "cuda_version"))
        extras = [f"{label} {gpu[key]}" for label, key in versions if gpu.get(key)]
        parts.append(", ".join([f"GPUs: {kinds}", *extras]))
    else:
        parts.append(f"GPUs: unknown ({gpu['error']})" if gpu.get("error") else "GPUs: none")
    return " · ".join(parts)
