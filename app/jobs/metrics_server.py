"""The worker's metrics endpoint, served by the worker's main process on ``WORKER_METRICS_PORT``.

The same pattern as the web's (``app.telemetry.prometheus.server``): every process of the
worker (the main process, which receives messages, and the prefork pool's processes, which run
the tasks) writes its samples to the worker's own ``PROMETHEUS_MULTIPROC_DIR``; the main process
merges them on each scrape (exact totals across processes, pool processes that exited
included), with the pool processes' trace exemplars, and adds what only it knows at scrape
time: ``celery_worker_up{hostname}`` (1 while it answers), ``celery_worker_tasks_active
{hostname}`` (requests handed to the pool and not finished) and ``celery_queue_length
{queue_name}`` (the broker's count of waiting messages: ``LLEN`` on Redis, the message files on
the filesystem transport). Served as Prometheus text or OpenMetrics (with exemplars) as the
scraper asks. Default port 9465; ``0`` turns it off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.telemetry.prometheus.server import ExemplarMultiProcessCollector

logger = logging.getLogger(__name__)

DEFAULT_WORKER_METRICS_PORT = 9465


class WorkerCollector(Collector):
    """``celery_worker_up``, ``celery_worker_tasks_active`` and ``celery_queue_length``."""

    def __init__(
        self,
        *,
        hostname: str,
        active_tasks: Callable[[], int],
        queue_lengths: Callable[[], Iterable[tuple[str, int]]],
    ) -> None:
        self._hostname = hostname
        self._active_tasks = active_tasks
        self._queue_lengths = queue_lengths

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "celery_worker_up",
            "Indicates if a worker has recently sent a heartbeat.",
            labels=["hostname"],
        )
        up.add_metric([self._hostname], 1)
        yield up
        active = GaugeMetricFamily(
            "celery_worker_tasks_active",
            "The number of tasks the worker is currently processing",
            labels=["hostname"],
        )
        active.add_metric([self._hostname], self._active_tasks())
        yield active
        length = GaugeMetricFamily(
            "celery_queue_length", "The number of message in broker queue.", labels=["queue_name"]
        )
        try:
            for queue, count in self._queue_lengths():
                length.add_metric([queue], count)
        except Exception:  # a broker outage must not fail the whole scrape
            logger.warning("queue length not read from the broker", exc_info=True)
        yield length


def queue_lengths(app: object, queues: Sequence[str]) -> Callable[[], list[tuple[str, int]]]:
    """Reads each queue's waiting messages from ``app``'s broker (one connection per scrape)."""

    def read() -> list[tuple[str, int]]:
        lengths = []
        with app.connection_for_read() as connection:  # type: ignore[attr-defined]
            channel = connection.default_channel
            for queue in queues:
                declared = channel.queue_declare(queue=queue, passive=True)
                lengths.append((queue, int(declared.message_count)))
        return lengths

    return read


def serve(*, directory: Path, host: str, port: int, collector: WorkerCollector) -> None:
    """Start the metrics HTTP server in a daemon thread of the worker's main process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExemplarMultiProcessCollector(directory))
    registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
