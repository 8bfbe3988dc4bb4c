"""Writes to exports: create and publish a job, run it, requeue stale jobs, delete expired ones.

Jobs are delivered at least once (``app.jobs.config``), so ``export_run`` is idempotent: a run
first *claims* the job with one conditional ``UPDATE`` (pending, or running but stale), and
finishes it only if its claim is still the latest. A finished job is never run again; a job
whose worker was killed is claimed again by its redelivered message or, when the broker lost
the message (the filesystem transport, or Redis after a restart), by the requeue beat runs.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from app.exports import metrics, queue, rendering, selectors, storage
from app.exports.models import Export, ExportFormat, ExportStatus
from app.faults.config import faults_allowed
from app.faults.jobs import jobs_fail
from app.todos.selectors import todo_list

logger = logging.getLogger(__name__)

_WRITERS = {ExportFormat.CSV: rendering.write_csv, ExportFormat.JSON: rendering.write_json}


def stale_after() -> timedelta:
    """How long an unfinished job may go without progress before it is published again."""
    return timedelta(seconds=settings.EXPORT_STALE_SECONDS)


def export_create(*, owner: User, format: str) -> Export:  # the API's word
    """Store a pending export of ``owner``'s todos and publish its job.

    Not one transaction: the row is committed before the message is published, so a worker
    never receives a job it cannot see. If publishing fails the row is deleted again and
    ``queue.QueueUnavailableError`` propagates (the API's 503): the client retries, and no
    orphan job is left for the requeue to pick up behind its back.
    """
    now = timezone.now()
    with transaction.atomic():
        export = Export.objects.create(
            owner=owner,
            format=ExportFormat(format),
            enqueued_at=now,
            expires_at=now + timedelta(hours=settings.EXPORT_RETENTION_HOURS),
        )
    try:
        queue.enqueue_export(export.id)
    except queue.QueueUnavailableError:
        export.delete()
        raise
    metrics.record_requested(format=export.format)
    return export


def export_run(*, export_id: uuid.UUID) -> None:
    """Produce the export's file, once: a job already finished, or running elsewhere and not
    stale, is left alone; a failure marks the job failed and re-raises."""
    attempt = _claim(export_id)
    if attempt is None:
        logger.info("export %s: nothing to do (finished, expired or running elsewhere)", export_id)
        return
    export = Export.objects.select_related("owner").get(pk=export_id)
    try:
        _fault_delay()
        jobs_fail()  # the fault switch's ``jobs`` target
        with storage.atomic_writer(export.file_name) as out:
            count = _WRITERS[ExportFormat(export.format)](
                todo_list(owner=export.owner).iterator(chunk_size=2000), out
            )
    except Exception as error:
        _finish(export, attempt, status=ExportStatus.FAILED, error=repr(error)[:1000])
        raise
    _finish(export, attempt, status=ExportStatus.SUCCEEDED, todo_count=count)


def export_requeue_stale() -> int:
    """Publish again every job without progress for ``stale_after()``; return how many."""
    now = timezone.now()
    requeued = 0
    for export_id in selectors.export_stale(now=now, stale_after=stale_after()).values_list(
        "id", flat=True
    ):
        Export.objects.filter(pk=export_id).update(enqueued_at=now)
        queue.enqueue_export(export_id)
        requeued += 1
    if requeued:
        logger.warning("requeued %d stale export job(s)", requeued)
    return requeued


def export_delete_expired() -> int:
    """Delete expired exports, files first; return how many rows went."""
    deleted = 0
    for export in selectors.export_expired(now=timezone.now()).only("id", "format"):
        storage.remove(export.file_name)
        export.delete()
        deleted += 1
    if deleted:
        logger.info("deleted %d expired export(s)", deleted)
    return deleted


def _claim(export_id: uuid.UUID) -> int | None:
    """Mark the job running for this run; its attempt number, or ``None`` if not claimable."""
    now = timezone.now()
    claimable = Q(status=ExportStatus.PENDING) | Q(
        status=ExportStatus.RUNNING, started_at__lt=now - stale_after()
    )
    with transaction.atomic():
        claimed = Export.objects.filter(claimable, pk=export_id, expires_at__gt=now).update(
            status=ExportStatus.RUNNING, started_at=now, attempts=F("attempts") + 1
        )
        if not claimed:
            return None
        return int(Export.objects.values_list("attempts", flat=True).get(pk=export_id))


def _finish(export: Export, attempt: int, *, status: str, **fields: object) -> None:
    """Record the outcome, unless a later run has claimed the job since (then it decides);
    count it (``metrics``) only when this run's outcome is the one recorded."""
    finished_at = timezone.now()
    recorded = Export.objects.filter(
        pk=export.pk, status=ExportStatus.RUNNING, attempts=attempt
    ).update(status=status, finished_at=finished_at, **fields)
    if recorded:
        metrics.record_finished(
            format=export.format,
            outcome=status,
            completion_seconds=(finished_at - export.created_at).total_seconds(),
        )


def _fault_delay() -> None:
    """``FAULT_EXPORT_DELAY_MS``: slow every run down (demos, and the worker-kill test);
    refused in production like every fault."""
    delay_ms = settings.FAULT_EXPORT_DELAY_MS
    if delay_ms and faults_allowed():
        time.sleep(delay_ms / 1000)
