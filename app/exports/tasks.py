"""The export tasks Celery runs: thin wrappers over ``app.exports.services``."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings

from app.exports import services
from app.jobs.config import CLEANUP_TASK, REQUEUE_TASK, RUN_TASK


@shared_task(
    name=RUN_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.EXPORT_TIME_LIMIT_SECONDS,
)
def run_export(export_id: str) -> None:
    """Produce one export's file (idempotent: see ``services.export_run``)."""
    services.export_run(export_id=uuid.UUID(export_id))


@shared_task(name=REQUEUE_TASK)
def requeue_stale_exports() -> int:
    """Publish again the jobs nobody made progress on (periodic, from beat)."""
    return services.export_requeue_stale()


@shared_task(name=CLEANUP_TASK)
def delete_expired_exports() -> int:
    """Delete expired exports and their files (periodic, from beat)."""
    return services.export_delete_expired()
