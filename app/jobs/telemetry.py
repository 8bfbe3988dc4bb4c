"""One JSON log line per task run: task id and name, final state, duration, retries.

Written through the service's structlog pipeline (JSON in production), so each line carries
the service identity and, when a span is active (the Celery instrumentation, later), the
``trace_id`` and ``span_id``. Celery's signals: ``task_prerun`` notes the start,
``task_postrun`` (every outcome) writes the line.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task
from celery.signals import task_postrun, task_prerun

logger = structlog.get_logger("app.jobs")

_STARTED: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    """Remember when the run began (one worker process runs one task at a time)."""
    if task_id is not None:
        _STARTED[task_id] = time.perf_counter()


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
    started = _STARTED.pop(task_id, None)
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 2)
    request = getattr(task, "request", None)
    logger.info(
        "task_run",
        task_id=task_id,
        task_name=getattr(task, "name", None),
        state=state,
        duration_ms=duration_ms,
        retries=getattr(request, "retries", 0) or 0,
    )
