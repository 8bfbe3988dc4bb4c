"""Publishing export jobs to the broker, and the one error callers see when it is down."""

from __future__ import annotations

import uuid

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.jobs.config import RUN_TASK


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
    """Publish a run of export ``export_id``; ``QueueUnavailableError`` if the broker is down."""
    try:
        # Loads Celery on first use only; its set-up (the filesystem broker's folders) may
        # fail like the broker itself.
        from app.jobs.celery import celery_app  # noqa: PLC0415

        celery_app.send_task(RUN_TASK, args=[str(export_id)])
    except BROKER_ERRORS as error:
        raise QueueUnavailableError(f"cannot publish export {export_id}: {error!r}") from error
