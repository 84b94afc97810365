"""System metrics over time: CPU, memory and GPUs, sampled off the training thread.

The sampler runs beside the training, never on its thread: a thread of the ``gitexp
run`` wrapper, or, for a script that called ``gitexp.init()`` itself, a small process
of its own (``SamplerProcess``).  Every ``GITEXP_SYSTEM_INTERVAL`` seconds (default
10) it appends one row to the live ``system.jsonl``; the recorder commits the rows as
``.gitexp/system/`` chunks.  Rows are keyed by time, not by training step: ``_step``
counts the samples.  CPU and memory come from psutil; GPUs from NVML (``pynvml``) when
it is importable and a driver answers.  ``GITEXP_SYSTEM_METRICS=0`` (or ``gitexp run
--no-system-metrics``) turns sampling off.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from types import ModuleType

from gitexp.model import values
from gitexp.typecheck import TYPE_CHECKING

if TYPE_CHECKING:
    from psutil import Process

    from gitexp.model.shapes import HistoryRow

ENV_SYSTEM_METRICS = "GITEXP_SYSTEM_METRICS"  # "0": no sampling
STARTUP_GRACE_SECONDS = 0.25  # before the sampler imports psutil
ENV_SYSTEM_INTERVAL = "GITEXP_SYSTEM_INTERVAL"  # seconds between samples
DEFAULT_INTERVAL = 10.0
MIN_INTERVAL = 0.1
PREFIX = "system/"


def enabled() -> bool:
    return os.environ.get(ENV_SYSTEM_METRICS, "1").strip().lower() not in ("0", "false", "no")


def interval() -> float:
    try:
        seconds = float(os.environ.get(ENV_SYSTEM_INTERVAL, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return max(MIN_INTERVAL, seconds) if seconds == seconds else DEFAULT_INTERVAL


class _Gpus:
    """NVML handles, opened once; absent (empty) without pynvml or a driver."""

    def __init__(self) -> None:
        self.nvml: ModuleType | None = None
        self.handles: list[object] = []  # NVML's device handles
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
            self.nvml = pynvml
        except Exception:  # no pynvml, no driver, no GPU: not an error
            self.handles = []

    def sample(self, row: HistoryRow) -> None:
        nvml = self.nvml
        if nvml is None:
            return  # no handles either
        for index, handle in enumerate(self.handles):
            key = f"{PREFIX}gpu.{index}."
            with contextlib.suppress(Exception):
                row[key + "utilization"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            with contextlib.suppress(Exception):
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                row[key + "memory_used_bytes"] = int(memory.used)
                if memory.total:
                    row[key + "memory_percent"] = round(100.0 * memory.used / memory.total, 2)
            with contextlib.suppress(Exception):
                row[key + "power_watts"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            with contextlib.suppress(Exception):
                row[key + "temperature_c"] = float(nvml.nvmlDeviceGetTemperature(handle, 0))

    def close(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(Exception):
                self.nvml.nvmlShutdown()


class SystemSampler:
    """Appends a row of system metrics to ``path`` every ``seconds``, on its own thread.

    ``pid`` is the run's process (the training command, or this process); its CPU and
    memory are summed over it and its descendants (DataLoader workers, DDP ranks).
    """

    def __init__(
        self,
        path: str,
        start_time: float,
        pid: int,
        first_index: int = 0,
        seconds: float | None = None,
        grace: float = 0.0,
    ) -> None:
        self.path = path
        self.grace = grace
        self.start_time = start_time
        self.pid = pid
        self.index = first_index
        self.seconds = interval() if seconds is None else seconds
        self._stop = threading.Event()
        self._ready = threading.Event()  # psutil imported (or not there)
        self._thread: threading.Thread | None = None
        self._processes: dict[int, Process] = {}
        self._warned = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gitexp-system", daemon=True)
        self._thread.start()
        if not self.grace:
            # A script's own process: let the thread import psutil (~20 ms) before the
            # training loop starts.  Once the loop holds the GIL, that import takes a
            # second or more, and a short run then gets one sample or none.
            self._ready.wait(timeout=0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        # In gitexp run's wrapper, a command that ends within moments (`true`, a failing
        # import) never needs psutil: importing it costs ~20 ms of the GIL the run's own
        # start-up and final commit would wait for.  In a script's own process the import
        # happens at once, before the training loop competes for the GIL.
        if self.grace and self._stop.wait(min(self.grace, self.seconds / 2)):
            return
        try:
            import psutil
        except ImportError:
            return
        finally:
            self._ready.set()
        gpus = _Gpus()
        try:
            psutil.cpu_percent(None)  # the first call only starts the measurement
            self._process_cpu(psutil)
            since = time.monotonic()
            while not self._stop.wait(self.seconds):
                self._write(self.sample(psutil, gpus))
                since = time.monotonic()
            # The run ended between two samples: its last stretch is measured too.  (A
            # script that trains at once can keep this thread from importing psutil for
            # a second or two, so a short run would otherwise have one sample or none.)
            if time.monotonic() - since >= min(0.05, self.seconds):
                self._write(self.sample(psutil, gpus))
        except Exception as exc:  # a sampler must never print a traceback into the run
            if not self._warned:
                self._warned = True
                warnings.warn(f"gitexp: system metrics stopped: {exc}", stacklevel=1)
        finally:
            gpus.close()

    def sample(self, psutil: ModuleType, gpus: _Gpus) -> HistoryRow:
        now = time.time()
        row: HistoryRow = {
            "_step": self.index,
            "_time": now,
            "_runtime": round(now - self.start_time, 6),
        }
        row[PREFIX + "cpu_percent"] = float(psutil.cpu_percent(None))
        memory = psutil.virtual_memory()
        row[PREFIX + "memory_percent"] = float(memory.percent)
        row[PREFIX + "memory_used_bytes"] = int(memory.total - memory.available)
        cpu, rss = self._process_cpu(psutil)
        if cpu is not None:
            row[PREFIX + "process_cpu_percent"] = round(cpu, 2)
            row[PREFIX + "process_memory_bytes"] = rss
        gpus.sample(row)
        self.index += 1
        return row

    def _process_cpu(self, psutil: ModuleType) -> tuple[float | None, int]:
        """CPU percent (100 = one core) and resident memory of the run's process tree."""
        try:
            root = self._processes.get(self.pid) or psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None, 0
        seen: dict[int, Process] = {}
        cpu, rss = 0.0, 0
        for process in tree:
            known = self._processes.get(process.pid, process)
            try:
                cpu += known.cpu_percent(None)  # since this process object's last call
                rss += known.memory_info().rss
            except psutil.Error:
                continue
            seen[process.pid] = known
        self._processes = seen
        return cpu, rss

    def _write(self, row: HistoryRow) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(values.dumps(row) + "\n")


class SamplerProcess:
    """A ``SystemSampler`` in a process of its own, for a script that records itself.

    A thread in the script's own process shares the GIL with training: a pure-Python
    loop starves it (one sample in seconds), and its psutil import (~15 ms) either
    delays the script's start or waits for the loop.  A child process samples on its own
    schedule.  It is started after ``grace`` seconds, by a thread of this process that
    then waits for it to end: a script that ends sooner needs no sampler, and the
    child's start (a Python and psutil, ~25 ms of CPU) would compete with the script's
    own on a small machine.  The child reads the script's word on its stdin ("stop", or
    end of file when the script died) and says "ready" on its stdout once it measures:
    a script that stops before that has nothing to wait for.
    """

    def __init__(self, argv: list[str], grace: float, fallback: SystemSampler) -> None:
        self._argv, self._grace, self._fallback = argv, grace, fallback
        self._child: subprocess.Popen[bytes] | None = None
        self._thread_sampler: SystemSampler | None = None
        self._ready = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the spawn against stop()
        threading.Thread(target=self._run, name="gitexp-sampler", daemon=True).start()

    def _run(self) -> None:
        if self._stopping.wait(self._grace):
            return
        with self._lock:
            if self._stopping.is_set():
                return
            try:
                child = subprocess.Popen(
                    self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
                )
            except OSError:  # no interpreter to start (an embedded Python): a thread
                self._thread_sampler = self._fallback
                self._fallback.start()
                return
            assert child.stdout is not None
            os.set_blocking(child.stdout.fileno(), False)
            self._child = child
        # Reaped the moment it ends, whoever ends it: a Jupyter kernel signals its children
        # at shutdown and waits until none is left, and an unreaped one (a zombie) stays
        # on that list until the kernel is killed, its run unfinished.  This thread waits
        # in waitpid, off the GIL.
        child.wait()

    def _is_ready(self, child: subprocess.Popen[bytes]) -> bool:
        assert child.stdout is not None
        if not self._ready:
            with contextlib.suppress(OSError, TypeError):  # nothing to read yet: None
                self._ready = b"ready" in (child.stdout.read() or b"")
        return self._ready

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            child, thread_sampler = self._child, self._thread_sampler
        if thread_sampler is not None:
            thread_sampler.stop()
        if child is None:
            return  # the run ended within the grace: no sampler was started
        ready = self._is_ready(child)
        with contextlib.suppress(OSError):
            assert child.stdin is not None
            child.stdin.write(b"stop\n")
            child.stdin.close()
        if ready:
            try:  # its last sample, of the stretch since the one before
                child.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                pass
        child.kill()  # still importing psutil (the run was shorter than that), or stuck
        child.wait()


def sample_for_parent(argv: list[str]) -> None:
    """The child's side of ``SamplerProcess``: sample until the script says stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the script's to handle
    path, start_time, pid, first_index, seconds = argv
    sampler = SystemSampler(path, float(start_time), int(pid), int(first_index), float(seconds))
    try:
        import psutil
    except ImportError:
        return
    gpus = _Gpus()
    stdin = sys.stdin.buffer.fileno()
    try:
        psutil.cpu_percent(None)  # the first call only starts the measurement
        sampler._process_cpu(psutil)
        os.write(sys.stdout.fileno(), b"ready\n")
        since = next_at = time.monotonic()
        while True:
            next_at += sampler.seconds
            if select.select([stdin], [], [], max(0.0, next_at - time.monotonic()))[0]:
                break  # "stop", or end of file: the script ended
            if os.getppid() != sampler.pid:
                return  # the script died while a forked worker kept the pipe open
            sampler._write(sampler.sample(psutil, gpus))
            since = time.monotonic()
        if time.monotonic() - since >= min(0.05, sampler.seconds):
            sampler._write(sampler.sample(psutil, gpus))
    except Exception as exc:  # a sampler must never print a traceback into the run
        warnings.warn(f"gitexp: system metrics stopped: {exc}", stacklevel=1)
    finally:
        gpus.close()


def start_sampler(
    live_file: str,
    start_time: float,
    pid: int,
    first_index: int = 0,
    grace: float = 0.0,
    own_process: bool = False,
) -> SystemSampler | SamplerProcess | None:
    """A started sampler, or None when system metrics are turned off.  ``grace``: seconds
    to wait before importing psutil (for commands that end at once).  ``own_process``:
    sample from a child process (a script recording itself), started after ``grace``."""
    if not enabled():
        return None
    if own_process:
        fallback = SystemSampler(live_file, start_time, pid, first_index)
        argv = [str(live_file), repr(start_time), str(pid), str(first_index), repr(interval())]
        argv = [sys.executable, "-c", _CHILD, json.dumps(sys.path), *argv]
        return SamplerProcess(argv, min(grace, fallback.seconds / 2), fallback)
    sampler = SystemSampler(live_file, start_time, pid, first_index, grace=grace)
    sampler.start()
    return sampler


# The child imports what the script would, from where the script would: the script's own
# sys.path (a script may have put gitexp or psutil on it), not ``-m``'s current folder.
_CHILD = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from gitexp.record.sysmetrics import sample_for_parent; sample_for_parent(sys.argv[2:])"
)
