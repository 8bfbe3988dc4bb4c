"""Publishing export jobs to the broker, and the one error callers see when it is down."""

from __future__ import annotations

import uuid

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.jobs.tracing import end_failed_publish


class QueueUnavailableError(Exception):
    """The job could not be published: the broker is unreachable (the API answers 503)."""


# What publishing raises once its bounded retries are spent: Kombu's wrapper, or the transport's
# own error (Redis refusing, or silent past the socket timeout).
BROKER_ERRORS = (
    KombuOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def enqueue_export(export_id: uuid.UUID) -> None:
    """Publish a run of export ``export_id``; ``QueueUnavailableError`` if the broker is down.

    Published through the task object (not by name), so the Celery instrumentation finds the
    task and ends its producer span; a publish that raises has its span ended here.
    """
    task_id = str(uuid.uuid4())
    task = None
    try:
        # Configures Celery's app on first use only; its set-up (the filesystem broker's
        # folders) may fail like the broker itself.
        from app.exports.tasks import run_export  # noqa: PLC0415
        from app.jobs.celery import celery_app  # noqa: PLC0415, F401  # configures Celery

        task = run_export
        task.apply_async(args=[str(export_id)], task_id=task_id)
    except BROKER_ERRORS as error:
        if task is not None:
            end_failed_publish(task, task_id, error)
        raise QueueUnavailableError(f"cannot publish export {export_id}: {error!r}") from error
