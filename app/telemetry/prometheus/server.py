"""The metrics endpoint of a gunicorn deployment, served by the master process.

Workers write their samples to ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
mode); the master aggregates them on each scrape, adds the workers' trace exemplars, and adds
what only the master knows: live workers, worker exits, and per-process CPU, memory and file
descriptors. Served on ``METRICS_PORT`` (default 9464), never on the public port, in Prometheus
text or OpenMetrics (with exemplars) as the scraper asks. Imports no Django code: the master
never loads the app.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from app.telemetry.prometheus.exemplars import read_exemplars, remove_exemplars, sample_key

DEFAULT_METRICS_PORT = 9464


def reset_directory(directory: Path) -> None:
    """Empty the multiprocess directory: samples of a previous run must not be re-counted."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def forget_worker(directory: Path, pid: int) -> None:
    """Bookkeeping when a worker exits: drop its live gauges and exemplars, keep its counts."""
    mark_process_dead(pid, str(directory))
    (directory / f"gauge_all_{pid}.db").unlink(missing_ok=True)
    remove_exemplars(directory, pid)


# A worker's sample file starts with the 8 bytes saying how much of it is used. One that a
# starting worker has created but not yet sized is empty, and prometheus_client's merge fails
# on it (struct.error): the scrape answered 500 while a worker started.
_SAMPLE_FILE_HEADER = 8


def sample_files(directory: Path) -> list[str]:
    """The workers' sample files that are ready to read (skipping ones still being created)."""
    ready = []
    for path in directory.glob("*.db"):
        try:
            if path.stat().st_size >= _SAMPLE_FILE_HEADER:
                ready.append(str(path))
        except FileNotFoundError:  # a dead worker's live gauges, removed since the glob
            continue
    return ready


class ExemplarMultiProcessCollector(Collector):
    """The workers' aggregated samples, with each bucket's newest trace exemplar attached."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        stored = read_exemplars(self._directory)
        merged = MultiProcessCollector.merge(sample_files(self._directory), accumulate=True)
        for metric in merged:
            if stored and metric.type == "histogram":
                metric.samples = [
                    _with_exemplar(sample, stored.get(sample_key(sample.name, sample.labels)))
                    for sample in metric.samples
                ]
            yield metric


def _with_exemplar(sample: Any, stored: Any) -> Any:
    if stored is None or not sample.name.endswith("_bucket"):
        return sample
    labels = {"trace_id": stored.trace_id}
    if stored.span_id:
        labels["span_id"] = stored.span_id
    return sample._replace(exemplar=Exemplar(labels, stored.value, stored.timestamp))


class GunicornCollector(Collector):
    """Live workers, worker exits, and CPU/memory/fds of the master and each worker."""

    def __init__(self, worker_pids: Callable[[], Iterable[int]], exits: Callable[[], int]) -> None:
        self._worker_pids = worker_pids
        self._exits = exits

    def collect(self) -> Iterable[Metric]:
        workers = sorted(self._worker_pids())
        alive = GaugeMetricFamily("todos_gunicorn_workers", "gunicorn worker processes alive.")
        alive.add_metric([], len(workers))
        yield alive
        exited = CounterMetricFamily(
            "todos_gunicorn_worker_exits",
            "gunicorn workers that exited (crashed, killed or recycled) since the master started.",
        )
        exited.add_metric([], self._exits())
        yield exited
        yield from _process_metrics([(os.getpid(), "master"), *((p, "worker") for p in workers)])


def _process_metrics(processes: list[tuple[int, str]]) -> Iterator[Metric]:
    """prometheus_client's process metrics for each process, labelled ``pid`` and ``role``."""
    families: dict[str, Metric] = {}
    for pid, role in processes:
        collector = ProcessCollector(pid=_returns(pid), registry=None)
        for metric in collector.collect():
            family = families.setdefault(
                metric.name, Metric(metric.name, metric.documentation, metric.type)
            )
            for sample in metric.samples:
                family.add_sample(
                    sample.name, {**sample.labels, "pid": str(pid), "role": role}, sample.value
                )
    yield from families.values()


def _returns(pid: int) -> Callable[[], int]:
    return lambda: pid


class WorkerExits:
    """A count of worker exits, kept in the master."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


def serve(
    *,
    directory: Path,
    host: str,
    port: int,
    worker_pids: Callable[[], Iterable[int]],
    exits: Callable[[], int],
) -> None:
    """Start the metrics HTTP server in a daemon thread of the calling (master) process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExemplarMultiProcessCollector(directory))
    registry.register(GunicornCollector(worker_pids, exits))
    start_http_server(port, addr=host, registry=registry)
