"""The hot path: ``gitexp.log`` appends a row in memory; a thread writes rows to disk.

``log`` does no I/O and no JSON: for plain int and float values it is a dict store per
key.  A daemon thread writes the rows to the live ``history.jsonl`` every
``FLUSH_SECONDS`` (and at ``finish``), so a crash loses at most that much of what was
logged.  Rows are one per step: several calls at one step merge, and a step never goes
backwards (a smaller step is dropped with one warning).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Mapping

from gitexp.media.base import Media
from gitexp.model import values
from gitexp.model.values import RESERVED_KEYS
from gitexp.typecheck import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from gitexp.media.store import MediaSink
    from gitexp.model.shapes import HistoryRow

FLUSH_SECONDS = 0.5  # documented: metrics logged more than 1 s before a crash are kept
MAX_UNWRITTEN_BYTES = 64 << 20  # rows kept in memory while the disk refuses writes


class Logger:
    """Step-merging row buffer plus its flusher; owned by one run in one process.

    Each ``log`` call is atomic: its keys are normalized outside the lock, then merged
    into the open row and (unless ``commit=False``) completed under ``_lock``, so calls
    from several threads never share half a row, and every completed row gets the next
    step in the order rows enter ``_rows``.  The lock is taken with plain
    ``acquire``/``release`` (a ``with`` block costs twice as much, measured in
    docs/benchmarks.md) and is reentrant: a signal handler that logs while its thread
    is inside ``log`` must not deadlock the training; its call is queued and applied
    when the interrupted one is done.
    """

    def __init__(self, history_path: str, start_time: float) -> None:
        self._path = history_path
        self._start = start_time
        self._pending: HistoryRow = {}
        self._rows: deque[HistoryRow] = deque()  # append/popleft are atomic
        self._step = 0
        self._lock = threading.RLock()  # one call at a time: the open row and the step
        self._busy = False  # the lock's holder is inside the update (see _apply)
        self._queued: list[tuple[HistoryRow, int | None, bool | None]] = []
        self._closed = False  # the final flush happened: later rows would never be written
        self._file_lock = threading.Lock()  # guards the file and the unwritten backlog
        self._warned: set[str] = set()
        self.last_values: dict[str, object] = {}
        self._unwritten: list[str] = []
        self._failed = False
        self.step_offset = 0
        self._media: MediaSink | None = None  # made when the first media value is logged

    @property
    def step(self) -> int:
        return self._step

    def continue_after(self, step: int | None) -> None:
        """Start after ``step`` (rows already in the live file from an earlier init)."""
        with self._lock:
            if step is not None and step >= self._step:
                self._step = step + 1

    def log(self, data: object, step: int | None = None, commit: bool | None = None) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(
                f"gitexp.log() takes a dict of metrics, got {type(data).__name__}: "
                "use gitexp.log({'loss': value})"
            )
        if step is not None:
            step = _step_number(step)
        # The call's own row, built without the lock (histograms may take a while).
        row: HistoryRow = {}
        for key, value in data.items():
            kind = type(value)
            if (kind is float or kind is int) and type(key) is str and key not in RESERVED_KEYS:
                row[key] = value
            else:
                self._store_slow(row, key, value, step)
        lock = self._lock
        lock.acquire()
        if self._busy:  # a signal handler interrupted this thread's own call
            self._queued.append((row, step, commit))
            lock.release()
            return
        self._busy = True
        try:
            if step is None and commit is None and not self._pending and not self._closed:
                # The common call, inlined: one complete row of its own (measured).
                row["_step"] = number = self._step
                row["_time"] = time.time()
                self._rows.append(row)
                self._step = number + 1
            else:
                self._apply(row, step, commit)
            while self._queued:
                self._apply(*self._queued.pop(0))
        finally:
            self._busy = False
            lock.release()

    def _apply(self, row: HistoryRow, step: int | None, commit: bool | None) -> None:
        """Merge one call's row into the open row and complete it; holds ``_lock``."""
        if self._closed:
            return  # logged while the run finished: the history is already final
        if step is not None:
            if step < self._step:
                self._warn_once(
                    "_step_back",
                    f"gitexp: step {step} is before the current step {self._step}; "
                    "steps never go backwards, so this data was dropped",
                )
                return
            if step > self._step:
                if self._pending:
                    self._commit_row(self._pending)
                    self._pending = {}
                self._step = step
            if commit is None:
                commit = False  # wandb: with an explicit step, rows merge until the step moves
        pending = self._pending
        if pending:
            pending.update(row)
            row = pending
        if commit is None or commit:
            if pending:
                self._pending = {}
            self._commit_row(row)
        else:
            self._pending = row

    def _store_slow(
        self, pending: HistoryRow, key: object, value: object, step: int | None = None
    ) -> None:
        if not isinstance(key, str):
            key = str(key)
        if key in RESERVED_KEYS:
            self._warn_once(key, f"gitexp: '{key}' is reserved by gitexp; that value was dropped")
            return
        if isinstance(value, Mapping):
            for sub_key, sub_value in values.flatten({key: value}).items():
                self._store_slow(pending, sub_key, sub_value, step)
            return
        if isinstance(value, Media) or (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value)
        ):
            self._store_media(pending, key, value, step)
            return
        to_json = getattr(value, "to_gitexp_json", None)
        if to_json is not None:  # gitexp.Histogram and friends
            pending[key] = to_json()
            return
        try:
            pending[key] = values.normalize(value)
        except values.UnsupportedValue:
            self._warn_once(
                key,
                f"gitexp: cannot store a {type(value).__name__} for '{key}' yet; "
                "it was dropped (log numbers, strings or lists)",
            )

    def _store_media(self, pending: HistoryRow, key: str, value: object, step: int | None) -> None:
        """Write a media value's files into the live folder; its reference into the row.

        The files are named by the step the row is about to get (the explicit one, or the
        open one: read without the lock, a name, not the row's step of record).  A value
        that cannot be stored (no pillow, a full disk) is dropped with one warning.
        """
        sink = self._media
        if sink is None:
            from gitexp.media.store import MediaSink

            sink = self._media = MediaSink(os.path.dirname(self._path))
        at = self._step if step is None else step
        try:
            if isinstance(value, Media):
                pending[key] = value.store(sink, key, at)
            else:
                pending[key] = [item.store(sink, key, at) for item in cast("list[Media]", value)]
        except Exception as exc:  # never stop the training over a picture
            self._warn_once(
                f"{key}:media",
                f"gitexp: could not store the {type(value).__name__} logged as '{key}' "
                f"({exc}); it was dropped",
            )

    def _commit_row(self, row: HistoryRow) -> None:
        row["_step"] = self._step
        row["_time"] = time.time()
        self._rows.append(row)
        self._step += 1

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:  # two threads dropping the same key still warn once
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(message, stacklevel=4)

    def flush(self, final: bool = False) -> None:
        """Append the finished rows (and, when ``final``, the open one) to the live file.

        When the write fails (a full disk), the encoded rows are kept and written first
        by the next flush, up to ``MAX_UNWRITTEN_BYTES``; the OSError goes to the caller,
        which warns.
        """
        if final:
            with self._lock:  # no row completes after the last one is written
                if not self._busy:
                    # A signal handler's call that landed as the interrupted call was
                    # leaving, queued with no later call to apply it.
                    while self._queued:
                        self._apply(*self._queued.pop(0))
                self._closed = True
                if self._pending:
                    self._commit_row(self._pending)
                    self._pending = {}
        with self._file_lock:
            rows = self._rows
            lines = []
            start = self._start
            while rows:
                row = rows.popleft()
                stamp = cast(float, row["_time"])  # set by _commit_row
                row["_runtime"] = round(stamp - start, 6)
                lines.append(values.dumps(row))
                self.last_values.update(row)
            if lines:
                self._unwritten.append("\n".join(lines) + "\n")
            if not self._unwritten:
                return
            # After a failed write the file may end in a torn row: start on a fresh line
            # (readers skip the torn and the empty line).
            text = ("\n" if self._failed else "") + "".join(self._unwritten)
            try:
                with open(self._path, "a", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError:
                # Keep whole rows only: drop the oldest if the backlog grows too large.
                while (
                    len(self._unwritten) > 1
                    and sum(map(len, self._unwritten)) > MAX_UNWRITTEN_BYTES
                ):
                    self._unwritten.pop(0)
                self._failed = True
                raise
            self._unwritten = []
            self._failed = False


def _step_number(step: object) -> int:
    """``step`` as an int (numpy and torch integers too), or TypeError."""
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            step = values.normalize(step)
        except values.UnsupportedValue:
            step = None
        if not isinstance(step, int) or isinstance(step, bool):
            raise TypeError(f"step must be an int, got {step!r}")
    return step
