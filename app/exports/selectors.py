"""Reads of exports: one owner's (expired ones are gone), and the jobs beat looks after."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from app.exports.models import Export, ExportStatus


def export_list(*, owner: User, now: datetime) -> QuerySet[Export]:
    """The owner's exports that have not expired, newest first."""
    return Export.objects.filter(owner=owner, expires_at__gt=now).order_by("-created_at")


def export_get(*, owner: User, export_id: uuid.UUID, now: datetime) -> Export | None:
    """One of the owner's unexpired exports; ``None`` for anybody else's (the API's 404)."""
    return export_list(owner=owner, now=now).filter(pk=export_id).first()


def export_expired(*, now: datetime) -> QuerySet[Export]:
    """Exports past their expiry, whatever their state."""
    return Export.objects.filter(expires_at__lte=now)


def export_stale(*, now: datetime, stale_after: timedelta) -> QuerySet[Export]:
    """Unfinished jobs nobody is known to work on: pending since their last publication, or
    running since before, for longer than ``stale_after`` (a lost message, a killed worker)."""
    before = now - stale_after
    return Export.objects.filter(
        Q(status=ExportStatus.PENDING, enqueued_at__lt=before)
        | Q(status=ExportStatus.RUNNING, started_at__lt=before, enqueued_at__lt=before),
        expires_at__gt=now,
    )
