"""celery-exporter's task metrics, counted by Celery's signals in the process where each happens.

Names, types and labels are those of danihodovic/celery-exporter (``src/exporter.py``), so the
community celery-mixin dashboards and alerts read them unchanged: counters
``celery_task_{sent,received,started,succeeded,failed,retried}_total`` labelled ``name``
(the task), ``hostname`` (the host part of the Celery node name, as the exporter's
``get_hostname``) and ``queue_name`` (``failed`` also ``exception``: the exception's class name),
and the ``celery_task_runtime`` histogram (prometheus_client's default buckets, observed on
success, read from the run clock of ``app.jobs.telemetry``). The worker's gauges
(``celery_worker_up``, ``celery_worker_tasks_active``, ``celery_queue_length``) are computed at
scrape time by ``app.jobs.metrics_server``.

Why signals and not the exporter's event stream: the counts are exact (an event receiver misses
what happens while it is down, and events need broadcast, which the filesystem transport lacks),
and they need no extra process. ``task_sent`` is counted by the publisher
(``after_task_publish``): the web process (in gunicorn's registry, port ``METRICS_PORT``) and
beat (not served). ``received`` is counted in the worker's main process, the others in the pool
process that runs the task; prometheus_client's multiprocess mode adds them up. Like the
exporter, a task's first ``received`` creates its other series at 0 (``failed`` with
``exception=""``), so rates and ratios exist before the first failure.
"""

from __future__ import annotations

import socket
from typing import Any

from celery import Task, signals
from celery.utils.nodenames import nodesplit
from prometheus_client import Counter, Histogram

from app.jobs.telemetry import run_seconds

DEFAULT_QUEUE = "celery"  # the exporter's default_queue_name
TASK_LABELS = ("name", "hostname", "queue_name")

task_sent = Counter("celery_task_sent", "Sent when a task message is published.", TASK_LABELS)
task_received = Counter(
    "celery_task_received", "Sent when the worker receives a task.", TASK_LABELS
)
task_started = Counter(
    "celery_task_started", "Sent just before the worker executes the task.", TASK_LABELS
)
task_succeeded = Counter(
    "celery_task_succeeded", "Sent if the task executed successfully.", TASK_LABELS
)
task_failed = Counter(
    "celery_task_failed",
    "Sent if the execution of the task failed.",
    ("name", "hostname", "exception", "queue_name"),
)
task_retried = Counter(
    "celery_task_retried",
    "Sent if the task failed, but will be retried in the future.",
    TASK_LABELS,
)
task_runtime = Histogram(
    "celery_task_runtime", "Histogram of task runtime measurements.", TASK_LABELS
)


def host_of(nodename: str | None) -> str:
    """The host part of a Celery node name (``worker@host`` -> ``host``), as the exporter's."""
    if not nodename:
        return socket.gethostname()
    return str(nodesplit(nodename)[1])


def queue_of(delivery_info: Any) -> str:
    """The queue a message came from (its routing key on the direct exchange)."""
    if isinstance(delivery_info, dict) and delivery_info.get("routing_key"):
        return str(delivery_info["routing_key"])
    return DEFAULT_QUEUE


def _task_labels(task: Task | None) -> dict[str, str]:
    request = getattr(task, "request", None)
    return {
        "name": str(getattr(task, "name", "unknown")),
        "hostname": host_of(getattr(request, "hostname", None)),
        "queue_name": queue_of(getattr(request, "delivery_info", None)),
    }


@signals.after_task_publish.connect
def _count_sent(
    sender: str | None = None,
    routing_key: str | None = None,
    headers: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    """A message was published (by the web, or beat): ``celery_task_sent_total``."""
    name = (headers or {}).get("task") or sender or "unknown"
    task_sent.labels(
        name=str(name), hostname=socket.gethostname(), queue_name=routing_key or DEFAULT_QUEUE
    ).inc()


@signals.task_received.connect
def _count_received(request: Any = None, **_: Any) -> None:
    """The worker took a message (main process); the task's other series start at 0."""
    if request is None:
        return
    labels = {
        "name": str(getattr(request, "task_name", None) or getattr(request, "name", "unknown")),
        "hostname": host_of(getattr(request, "hostname", None)),
        "queue_name": queue_of(getattr(request, "delivery_info", None)),
    }
    task_received.labels(**labels).inc()
    for counter in (task_started, task_succeeded, task_retried):
        counter.labels(**labels).inc(0)
    task_failed.labels(exception="", **labels).inc(0)


@signals.task_prerun.connect
def _count_started(task: Task | None = None, **_: Any) -> None:
    """The task starts running (pool process): ``celery_task_started_total``."""
    task_started.labels(**_task_labels(task)).inc()


@signals.task_success.connect
def _count_succeeded(sender: Task | None = None, **_: Any) -> None:
    """The task returned: ``celery_task_succeeded_total`` and its runtime."""
    labels = _task_labels(sender)
    task_succeeded.labels(**labels).inc()
    seconds = run_seconds(getattr(getattr(sender, "request", None), "id", None))
    if seconds is not None:
        task_runtime.labels(**labels).observe(seconds)


@signals.task_failure.connect
def _count_failed(
    sender: Task | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    """The task raised: ``celery_task_failed_total`` by exception class."""
    exception_name = type(exception).__name__ if exception is not None else "UnknownException"
    task_failed.labels(exception=exception_name, **_task_labels(sender)).inc()


@signals.task_retry.connect
def _count_retried(sender: Task | None = None, **_: Any) -> None:
    """The task asked to be retried: ``celery_task_retried_total``."""
    task_retried.labels(**_task_labels(sender)).inc()
