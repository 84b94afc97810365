"""Tests for gitexp.record.manifest: real collection on this machine, fake GPU tools on PATH."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import stat
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from gitexp.record.manifest import (
    ENV_ALLOWLIST,
    canonical_name,
    collect_gpus,
    collect_host,
    collect_packages,
    diff_hardware,
    diff_packages,
    format_packages,
    parse_nvidia_smi,
    parse_packages,
    summarize,
)

# --- collect_host ----------------------------------------------------------------------


def test_host_matches_independent_sources() -> None:
    host = collect_host()
    assert host["os"] == platform.system()
    assert host["machine"] == platform.machine()
    assert host["hostname"] == platform.node()
    assert host["cpu"]["logical_cores"] == os.cpu_count()
    assert host["python"] == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }
    json.dumps(host)  # the manifest is stored as JSON


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux /proc")
def test_host_linux_details_agree_with_psutil() -> None:
    psutil = pytest.importorskip("psutil")
    host = collect_host()
    assert host["os_release"] == os.uname().release
    assert host["cpu"]["model"]  # every x86/ARM server kernel we run on names it
    if psutil.cpu_count(logical=False):  # psutil derives it from /sys topology instead
        assert host["cpu"]["physical_cores"] == psutil.cpu_count(logical=False)
    total = psutil.virtual_memory().total  # /proc/meminfo MemTotal
    assert abs(host["memory_bytes"] - total) <= 0.01 * total
    if Path("/etc/os-release").exists():
        pretty = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        assert host["os_pretty"] == (pretty.group(1) if pretty else None)


def test_env_records_only_allowlisted_values(monkeypatch: pytest.MonkeyPatch) -> None:
    canaries = {
        "GITEXP_TEST_SECRET": "canary-7f3a9c1e-secret",
        "AWS_SECRET_ACCESS_KEY": "canary-aws-wJalrXUtnFEMI",
        "CUDA_VISIBLE_DEVICES_TOKEN": "canary-lookalike-name",  # near an allowlisted name
        "cuda_visible_devices": "canary-lowercase",
    }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    host = collect_host()
    dumped = json.dumps(host)

    assert host["env"]["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert "OMP_NUM_THREADS" not in host["env"]  # unset variables are left out
    assert set(host["env"]) <= set(ENV_ALLOWLIST)
    for value in canaries.values():
        assert value not in dumped
    # No other variable's value may leak either; values that legitimately equal a recorded
    # fact (HOSTNAME, VIRTUAL_ENV inside the executable path, ...) are not leaks.
    facts = [host["hostname"], host["python"]["executable"], host["os_pretty"], host["os"]]
    for name, value in os.environ.items():
        if name in ENV_ALLOWLIST or len(value) < 4 or any(value in str(f) for f in facts):
            continue
        assert value not in dumped, name


def test_host_degrades_without_sysconf_or_uname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sysconf", raising=False)
    monkeypatch.delattr(os, "uname", raising=False)
    host = collect_host()  # as on Windows: must not raise
    assert host["memory_bytes"] is None
    assert host["os"] == platform.system()


# --- collect_packages --------------------------------------------------------------------


def _importlib_packages() -> dict[str, str]:
    """The reference: importlib.metadata, first distribution of a name on sys.path wins."""
    out: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(canonical_name(name), dist.version)
    return out


def test_packages_match_importlib_metadata() -> None:
    pkgs = collect_packages()
    names = [n for n, _ in pkgs]
    assert names == sorted(names, key=str.lower) and len(set(names)) == len(names)
    assert dict(pkgs) == _importlib_packages()
    assert dict(pkgs)["pytest"] == pytest.__version__


def test_packages_name_forms_fallback_and_shadowing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dist(dirname: str, meta: str, name: str, version: str, tail: str = "") -> None:
        (tmp_path / dirname).mkdir()
        (tmp_path / dirname / meta).write_text(f"Name: {name}\nVersion: {version}\n{tail}")

    dist("Foo_Bar-1.0.dist-info", "METADATA", "Foo-Bar", "1.0")
    dist("zope.interface-6.1.dist-info", "METADATA", "zope.interface", "6.1")
    dist("legacy_pkg-2.0.post1-py3.11.egg-info", "PKG-INFO", "legacy-pkg", "2.0.post1")
    # A development install: no version in the name, so the headers must be read.
    dist("devproj.egg-info", "PKG-INFO", "DevProj", "0.3", "\nDescription: Name: nope\n")
    # The same name as the real pytest, earlier on sys.path: import would pick this one.
    dist("pytest-0.0.1.dist-info", "METADATA", "pytest", "0.0.1")
    (tmp_path / "not_a_dist").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))

    pkgs = dict(collect_packages())
    assert pkgs["foo-bar"] == "1.0"
    assert pkgs["zope-interface"] == "6.1"
    assert pkgs["legacy-pkg"] == "2.0.post1"
    assert pkgs["devproj"] == "0.3"
    assert pkgs["pytest"] == "0.0.1"
    assert pkgs == _importlib_packages()


def test_format_parse_round_trip() -> None:
    pkgs = [("numpy", "2.1.0"), ("torch", "2.4.0+cu121")]
    text = format_packages(pkgs)
    assert text == "numpy==2.1.0\ntorch==2.4.0+cu121\n"
    assert parse_packages(text) == dict(pkgs)
    assert parse_packages("\n  \nnumpy==1.0\n-e git+https://x\n# comment\n") == {"numpy": "1.0"}
    assert parse_packages(format_packages(collect_packages())) == dict(collect_packages())


def test_diff_packages() -> None:
    a = {"numpy": "1.26.4", "torch": "2.3.0", "tqdm": "4.66.0"}
    b = {"numpy": "2.0.0", "torch": "2.3.0", "rich": "13.7.1"}
    assert diff_packages(a, b) == {
        "added": {"rich": "13.7.1"},
        "removed": {"tqdm": "4.66.0"},
        "changed": {"numpy": ["1.26.4", "2.0.0"]},
    }
    assert diff_packages(a, a) == {"added": {}, "removed": {}, "changed": {}}


# --- collect_gpus ----------------------------------------------------------------------

NO_GPUS: dict[str, Any] = {
    "gpus": [],
    "driver_version": None,
    "cuda_version": None,
    "source": None,
    "error": None,
}
SMI_CSV = (
    "0, NVIDIA H100 80GB HBM3, 81559, GPU-6a3b1c2d-0000-1111-2222-333344445555, 550.54.15\n"
    "1, NVIDIA H100 80GB HBM3, 81559, GPU-7b4c2d3e-0000-1111-2222-333344445555, 550.54.15\n"
)
SMI_HEADER = (
    "+-----------------------------------------------------------------------------+\n"
    "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |\n"
)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only our fake tools, and pynvml made unimportable, so the
    nvidia-smi route is the one taken whatever this machine has installed."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    return tmp_path


def _fake_smi(bin_dir: Path, script: str) -> None:
    exe = bin_dir / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\n{script}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


SLEEP = shutil.which("sleep")  # looked up before the fixture empties PATH
needs_sh = pytest.mark.skipif(not Path("/bin/sh").exists(), reason="fake tool is a sh script")


def test_gpus_on_this_machine() -> None:
    result = collect_gpus()
    assert set(result) == set(NO_GPUS)
    try:
        import pynvml  # noqa: F401
    except ImportError:
        if shutil.which("nvidia-smi") is None:  # nothing to ask: none, and not an error
            assert result == NO_GPUS


def test_no_tools_means_no_gpus_not_an_error(fake_bin: Path) -> None:
    assert collect_gpus() == NO_GPUS


@needs_sh
def test_nvidia_smi_output_is_parsed(fake_bin: Path) -> None:
    query, plain = f'printf "%s" "{SMI_CSV}"', f'printf "%s" "{SMI_HEADER}"'
    _fake_smi(fake_bin, f'case "$1" in --query-gpu=*) {query};; *) {plain};; esac')
    result = collect_gpus()
    assert result["source"] == "nvidia-smi" and result["error"] is None
    assert result["driver_version"] == "550.54.15"
    assert result["cuda_version"] == "12.4"
    assert result["gpus"] == [
        {
            "index": i,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_bytes": 81559 * 2**20,
            "uuid": f"GPU-{prefix}-0000-1111-2222-333344445555",
        }
        for i, prefix in enumerate(("6a3b1c2d", "7b4c2d3e"))
    ]
    assert summarize({"host": {}, "gpu": result}).endswith(
        "GPUs: 2x NVIDIA H100 80GB HBM3, driver 550.54.15, CUDA 12.4"
    )


def test_parse_nvidia_smi_odd_fields() -> None:
    result = parse_nvidia_smi("0, Tesla K80, Rev 2, [N/A], [N/A], 470.1\n\ngarbage\n", "")
    assert result["gpus"] == [
        {"index": 0, "name": "Tesla K80, Rev 2", "memory_bytes": None, "uuid": None}
    ]
    assert result["driver_version"] == "470.1" and result["cuda_version"] is None


class _NVMLError(Exception):
    """Shaped like pynvml.NVMLError: the NVML return code is in ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def _fake_pynvml(init_error: int | None = None) -> types.ModuleType:
    """The few nvidia-ml-py calls gitexp makes, answering like an old binding (bytes)."""
    mem = types.SimpleNamespace(total=81559 * 2**20)
    calls = {
        "nvmlInit": lambda: _raise(_NVMLError(init_error)) if init_error else None,
        "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: 1,
        "nvmlDeviceGetHandleByIndex": lambda i: f"handle{i}",
        "nvmlDeviceGetName": lambda h: b"NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetUUID": lambda h: "GPU-6a3b1c2d",
        "nvmlDeviceGetMemoryInfo": lambda h: mem,
        "nvmlSystemGetDriverVersion": lambda: b"550.54.15",
        "nvmlSystemGetCudaDriverVersion": lambda: 12040,
    }
    module = types.ModuleType("pynvml")
    module.__dict__.update(calls)
    return module


def _raise(error: Exception) -> None:
    raise error


def test_nvml_is_preferred(fake_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml())
    assert collect_gpus() == {
        "gpus": [
            {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_bytes": 81559 * 2**20,
             "uuid": "GPU-6a3b1c2d"}
        ],
        "driver_version": "550.54.15",
        "cuda_version": "12.4",
        "source": "nvml",
        "error": None,
    }  # fmt: skip


def test_nvml_without_driver_library_is_none(
    fake_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nvidia-ml-py installed on a machine without the NVIDIA driver: no GPU, not an error.
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(init_error=12))
    assert collect_gpus() == NO_GPUS
    # Driver library present but not loaded (9): a broken setup, worth recording.
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(init_error=9))
    assert collect_gpus() == {**NO_GPUS, "error": "NVML: NVML error 9"}


@needs_sh
def test_failing_nvidia_smi_is_recorded_not_raised(fake_bin: Path) -> None:
    _fake_smi(fake_bin, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate" >&2; exit 1')
    result = collect_gpus()
    assert result["gpus"] == [] and result["source"] is None
    assert result["error"].startswith("nvidia-smi exited with 1: NVIDIA-SMI has failed")


@needs_sh
def test_nvidia_smi_without_devices_is_none(fake_bin: Path) -> None:
    _fake_smi(fake_bin, 'echo "No devices were found"; exit 6')
    assert collect_gpus() == {**NO_GPUS, "source": "nvidia-smi"}


@needs_sh
@pytest.mark.skipif(SLEEP is None, reason="needs sleep(1)")
def test_hanging_nvidia_smi_times_out(fake_bin: Path) -> None:
    _fake_smi(fake_bin, f"exec {SLEEP} 30")  # exec: no grandchild holding the pipes open
    result = collect_gpus(timeout=0.3)
    assert result["gpus"] == [] and "timed out" in result["error"]


@needs_sh
def test_collect_gpus_from_many_threads(fake_bin: Path) -> None:
    _fake_smi(fake_bin, f'printf "%s" "{SMI_CSV}"')
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(collect_gpus())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert len(results[0]["gpus"]) == 2


# --- diff_hardware / summarize -----------------------------------------------------------


def _manifest(**changes: Any) -> dict[str, Any]:
    host: dict[str, Any] = {
        "os": "Linux",
        "os_release": "6.1.0-18-amd64",
        "os_pretty": "Debian GNU/Linux 12 (bookworm)",
        "hostname": "node-a",
        "machine": "x86_64",
        "cpu": {"model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "logical_cores": 2,
                "physical_cores": 2},
        "memory_bytes": 25_125_000_000,
        "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/a/python"},
        "env": {"CUDA_VISIBLE_DEVICES": "0"},
    }  # fmt: skip
    gpu: dict[str, Any] = {**NO_GPUS}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        target = gpu if section == "gpu" else host
        if "__" in field:
            sub, _, leaf = field.partition("__")
            target[sub] = {**target[sub], leaf: value}
        else:
            target[field or section] = value
    return {"host": host, "gpu": gpu}


def test_diff_hardware() -> None:
    a = _manifest()
    assert diff_hardware(a, _manifest()) == []
    h100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_bytes": 1, "uuid": None}
    b = _manifest(
        host__python__version="3.12.1",
        host__python__executable="/b/python",  # where Python lives does not matter
        host__hostname="node-b",
        host__memory_bytes=25_100_000_000,  # within 1%: same RAM, another kernel
        host__env={"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4"},
        gpu__gpus=[h100],
        gpu__driver_version="550.54.15",
    )
    assert diff_hardware(a, b) == [
        ("python.version", "3.11.7", "3.12.1"),
        ("gpu.names", [], ["NVIDIA H100 80GB HBM3"]),
        ("gpu.driver_version", None, "550.54.15"),
        ("env.OMP_NUM_THREADS", None, "4"),
        ("hostname", "node-a", "node-b"),
    ]
    c = _manifest(host__cpu__logical_cores=64, host__memory_bytes=512 * 2**30, host__os="Darwin")
    assert [label for label, _, _ in diff_hardware(a, c)] == [
        "os",
        "cpu.logical_cores",
        "memory_bytes",
    ]
    more_ram = _manifest(host__memory_bytes=int(25_125_000_000 * 1.02))
    assert diff_hardware(a, more_ram) == [("memory_bytes", 25_125_000_000, 25_627_500_000)]
    assert diff_hardware({}, {"host": {"os": "Linux"}}) == [("os", None, "Linux")]


def test_summarize() -> None:
    assert summarize(_manifest()) == (
        "Linux 6.1 x86_64 · Intel Xeon Gold 6338 @ 2.00GHz (2 cores) · 23.4 GiB RAM"
        " · Python 3.11.7 · GPUs: none"
    )
    smt = _manifest(host__cpu__logical_cores=16, host__cpu__physical_cores=8)
    assert "(8 cores, 16 threads)" in summarize(smt)
    failed = _manifest(gpu__error="nvidia-smi exited with 9")
    assert summarize(failed).endswith("GPUs: unknown (nvidia-smi exited with 9)")
    assert summarize({}) == "unknown OS · unknown CPU (? cores) · Python ? · GPUs: none"
    assert "GPUs: none" in summarize({"host": collect_host(), "gpu": NO_GPUS})
