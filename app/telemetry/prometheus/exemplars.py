"""Trace exemplars across gunicorn workers.

prometheus_client's multiprocess mode keeps no exemplars, so each worker keeps the newest
exemplar per histogram bucket in memory and a daemon thread writes them, at most once a
second, to ``exemplars_<pid>.json`` in ``PROMETHEUS_MULTIPROC_DIR``. The metrics endpoint in
gunicorn's master merges every worker's file into the buckets it serves (newest wins).
This module imports neither Django nor the app, so the master can use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from app.telemetry.prometheus.values import current_pid

FLUSH_INTERVAL_S = 1.0
FILE_PREFIX = "exemplars_"


@dataclass(frozen=True)
class StoredExemplar:
    """One bucket's newest exemplar: which sample, which trace, what value, when."""

    sample: str
    labels: dict[str, str]
    trace_id: str
    span_id: str
    value: float
    timestamp: float

    def key(self) -> str:
        """The sample this exemplar belongs to (name plus sorted labels)."""
        return sample_key(self.sample, self.labels)


def sample_key(sample: str, labels: dict[str, str]) -> str:
    """A stable identity for one sample: its name and sorted labels."""
    return json.dumps([sample, sorted(labels.items())])


class ExemplarWriter:
    """A worker's exemplars, flushed to its own file by a background thread."""

    def __init__(self, directory: Path, *, background: bool = True) -> None:
        """``background=False``: no writer thread; the caller flushes (tests)."""
        self._path = directory / f"{FILE_PREFIX}{os.getpid()}.json"
        # Per bucket, the newest exemplar or a function building it: built only when flushed
        # (at most once a second), not on the request path.
        self._items: dict[Hashable, Callable[[], StoredExemplar]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._dirty = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exemplar-writer", daemon=True)
        if background:
            self._thread.start()

    def record(self, exemplar: StoredExemplar) -> None:
        """Keep ``exemplar`` as its bucket's newest; written within a second."""
        self.record_lazy(exemplar.key(), lambda: exemplar)

    def record_lazy(self, bucket: Hashable, build: Callable[[], StoredExemplar]) -> None:
        """Keep what ``build()`` returns as ``bucket``'s newest exemplar (built at flush time)."""
        with self._lock:
            self._items[bucket] = build
        if not self._dirty.is_set():
            self._dirty.set()

    def flush(self) -> None:
        """Write the current exemplars now (atomically: temp file, then rename)."""
        with self._lock:
            builders = list(self._items.values())
        payload = [asdict(build()) for build in builders]
        with self._flush_lock:
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(payload))
            temporary.replace(self._path)

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            with contextlib.suppress(OSError):  # directory wiped or full: best effort
                self.flush()
            time.sleep(FLUSH_INTERVAL_S)


def read_exemplars(directory: Path) -> dict[str, StoredExemplar]:
    """Every worker's exemplars, newest per sample."""
    newest: dict[str, StoredExemplar] = {}
    for item in _stored(directory):
        current = newest.get(item.key())
        if current is None or item.timestamp > current.timestamp:
            newest[item.key()] = item
    return newest


def _stored(directory: Path) -> Iterator[StoredExemplar]:
    for path in directory.glob(f"{FILE_PREFIX}*.json"):
        try:
            records = json.loads(path.read_text())
        except (OSError, ValueError):  # a file being replaced or a dead worker's leftovers
            continue
        for record in records:
            yield StoredExemplar(**record)


def remove_exemplars(directory: Path, pid: int) -> None:
    """Forget a dead worker's exemplars."""
    (directory / f"{FILE_PREFIX}{pid}.json").unlink(missing_ok=True)


_writer: ExemplarWriter | None = None
_writer_pid: int | None = None
_writer_lock = threading.Lock()


def writer() -> ExemplarWriter | None:
    """This process's writer when metrics are multiprocess (under gunicorn), else ``None``."""
    global _writer, _writer_pid  # noqa: PLW0603  # one writer per process, made lazily
    pid = current_pid()  # no system call per observation
    if _writer is not None and _writer_pid == pid:
        return _writer
    # Read as prometheus_client reads it (not through app.envconfig: no *_FILE form).
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return None
    if _writer is None or _writer_pid != pid:
        with _writer_lock:
            if _writer is None or _writer_pid != pid:
                _writer = ExemplarWriter(Path(directory))
                _writer_pid = pid
    return _writer
