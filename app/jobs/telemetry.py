"""One JSON log line per task run, and the publishing request's trace context in the message.

``before_task_publish`` adds the current W3C trace context (``traceparent``; the request's
server span when a request publishes) to the message headers. In the worker, ``task_prerun``
notes the start and makes that context current for the run; ``task_postrun`` (every outcome)
writes ``task_run`` with the task id and name, final state, duration and retries through the
service's structlog pipeline, so the line carries ``trace_id`` (the request's trace) and
``span_id`` (until the Celery instrumentation gives each run a span of its own: the publishing
request's span), then restores the previous context.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Task
from celery.signals import before_task_publish, task_postrun, task_prerun
from opentelemetry import context, propagate

logger = structlog.get_logger("app.jobs")

# Per running task id: when it started, and the token restoring the context it replaced.
_STARTED: dict[str, tuple[float, object]] = {}


class _RequestGetter:
    """Reads propagation fields from a task's request (custom headers become attributes)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = getattr(carrier, key, None)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Any) -> list[str]:
        return []


_GETTER = _RequestGetter()


@before_task_publish.connect
def _inject_trace_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Put the current trace context (``traceparent``...) into the message's headers."""
    if headers is not None:
        propagate.inject(headers)


@task_prerun.connect
def _task_started(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    """Remember when the run began; make the publisher's trace context current."""
    if task_id is None:
        return
    request = getattr(task, "request", None)
    token = context.attach(propagate.extract(request, getter=_GETTER))  # type: ignore[arg-type]
    _STARTED[task_id] = (time.perf_counter(), token)


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
    started, token = _STARTED.pop(task_id, (None, None))
    duration_ms = None if started is None else round((time.perf_counter() - started) * 1000, 2)
    request = getattr(task, "request", None)
    try:
        logger.info(
            "task_run",
            task_id=task_id,
            task_name=getattr(task, "name", None),
            state=state,
            duration_ms=duration_ms,
            retries=getattr(request, "retries", 0) or 0,
        )
    finally:
        if token is not None:
            context.detach(token)  # type: ignore[arg-type]
