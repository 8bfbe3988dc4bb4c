"""One JSON log line per task run, carrying the run's trace.

In the worker, ``task_prerun`` notes the start; ``task_postrun`` (every outcome) writes
``task_run`` with the task id and name, final state, duration and retries through the service's
structlog pipeline. The Celery instrumentation (``app.jobs.tracing``) makes the run's consumer
span, a child of the publishing request's producer span, and keeps it current until its own
``task_postrun`` receiver ends it; this module's receivers are connected first (on import of
``app.jobs.celery``, before the instrumentation is turned on in the pool process), so the line
carries the consumer span's ``trace_id`` (the request's trace) and ``span_id``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task
from celery.signals import task_postrun, task_prerun

logger = structlog.get_logger("app.jobs")

# Per running task id: when it started. The one clock of a run: the log line below and the
# runtime histogram (``app.jobs.metrics``, on success, before ``task_postrun``) read it.
_STARTED: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    """Remember when the run began."""
    if task_id is not None:
        _STARTED[task_id] = time.perf_counter()


def run_seconds(task_id: str | None) -> float | None:
    """How long the run of ``task_id`` has taken so far (``None`` if it is not running here)."""
    started = _STARTED.get(task_id) if task_id is not None else None
    return None if started is None else time.perf_counter() - started


@task_postrun.connect
def _task_finished(
    task_id: str | None = None,
    task: Task | None = None,
    state: str | None = None,
    **_: Any,
) -> None:
    """Log the run: ``task_run`` with its id, name, state, duration and retries."""
    if task_id is None:
        return
    seconds = run_seconds(task_id)
    _STARTED.pop(task_id, None)
    duration_ms = None if seconds is None else round(seconds * 1000, 2)
    request = getattr(task, "request", None)
    logger.info(
        "task_run",
        task_id=task_id,
        task_name=getattr(task, "name", None),
        state=state,
        duration_ms=duration_ms,
        retries=getattr(request, "retries", 0) or 0,
    )
