"""Export services in-process: publishing, idempotent runs, requeue of stale jobs, expiry."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from app.exports import queue, services
from app.exports.models import Export, ExportFormat, ExportStatus
from tests.factories import make_todos


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[uuid.UUID]:
    """Export ids published to the (fake) broker, in order."""
    ids: list[uuid.UUID] = []
    monkeypatch.setattr(queue, "enqueue_export", ids.append)
    return ids


@pytest.fixture(autouse=True)
def storage(settings: Any, tmp_path: Path) -> Path:
    settings.EXPORT_STORAGE_DIR = tmp_path
    settings.FAULT_EXPORT_DELAY_MS = 0
    return tmp_path


def test_creating_stores_a_pending_export_and_publishes_it(
    alice: User, published: list[uuid.UUID], settings: Any
) -> None:
    export = services.export_create(owner=alice, format="csv")

    assert published == [export.id]
    assert (export.status, export.format, export.attempts) == ("pending", "csv", 0)
    retention = export.expires_at - export.created_at
    assert abs(retention - timedelta(hours=settings.EXPORT_RETENTION_HOURS)) < timedelta(seconds=1)


def test_a_broker_outage_leaves_no_export_behind(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(export_id: uuid.UUID) -> None:
        raise queue.QueueUnavailableError("refused")

    monkeypatch.setattr(queue, "enqueue_export", down)

    with pytest.raises(queue.QueueUnavailableError):
        services.export_create(owner=alice, format="json")
    assert not Export.objects.exists()


def test_a_run_writes_the_owners_todos_and_succeeds(
    alice: User, bob: User, published: list[uuid.UUID], storage: Path
) -> None:
    make_todos(alice, 3)
    make_todos(bob, 2)
    export = services.export_create(owner=alice, format="json")

    services.export_run(export_id=export.id)

    export.refresh_from_db()
    assert (export.status, export.todo_count, export.attempts) == ("succeeded", 3, 1)
    assert export.finished_at is not None
    assert len(json.loads((storage / export.file_name).read_text())) == 3
    assert [path.name for path in storage.iterdir()] == [export.file_name]  # no partial file


def test_a_second_delivery_of_a_finished_job_does_nothing(
    alice: User, published: list[uuid.UUID], storage: Path
) -> None:
    export = services.export_create(owner=alice, format="csv")
    services.export_run(export_id=export.id)
    (storage / export.file_name).write_text("kept")

    services.export_run(export_id=export.id)

    export.refresh_from_db()
    assert (export.status, export.attempts) == ("succeeded", 1)
    assert (storage / export.file_name).read_text() == "kept"


def test_a_job_running_elsewhere_is_left_alone_until_it_is_stale(
    alice: User, published: list[uuid.UUID], settings: Any
) -> None:
    export = services.export_create(owner=alice, format="csv")
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING, started_at=timezone.now(), attempts=1
    )

    services.export_run(export_id=export.id)
    export.refresh_from_db()
    assert (export.status, export.attempts) == ("running", 1)

    stale = timezone.now() - timedelta(seconds=settings.EXPORT_STALE_SECONDS + 1)
    Export.objects.filter(pk=export.pk).update(started_at=stale)
    services.export_run(export_id=export.id)
    export.refresh_from_db()
    assert (export.status, export.attempts) == ("succeeded", 2)


def test_a_run_whose_claim_was_taken_over_cannot_finish_the_job(
    alice: User, published: list[uuid.UUID]
) -> None:
    export = services.export_create(owner=alice, format="csv")
    attempt = services._claim(export.id)
    assert attempt == 1
    Export.objects.filter(pk=export.pk).update(attempts=2)  # a later run claimed it

    services._finish(export, attempt, status=ExportStatus.FAILED, error="late")

    export.refresh_from_db()
    assert (export.status, export.error) == ("running", "")


def test_a_failing_run_marks_the_job_failed(
    alice: User, published: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    export = services.export_create(owner=alice, format="csv")

    def broken(*args: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setitem(services._WRITERS, ExportFormat.CSV, broken)

    with pytest.raises(RuntimeError):
        services.export_run(export_id=export.id)
    export.refresh_from_db()
    assert export.status == "failed"
    assert "disk full" in export.error


def test_requeue_publishes_only_jobs_without_progress(
    alice: User, published: list[uuid.UUID], settings: Any
) -> None:
    fresh = services.export_create(owner=alice, format="csv")
    lost = services.export_create(owner=alice, format="csv")
    dead = services.export_create(owner=alice, format="csv")
    done = services.export_create(owner=alice, format="csv")
    old = timezone.now() - timedelta(seconds=settings.EXPORT_STALE_SECONDS + 1)
    Export.objects.filter(pk=lost.pk).update(enqueued_at=old)
    Export.objects.filter(pk=dead.pk).update(
        status=ExportStatus.RUNNING, started_at=old, enqueued_at=old
    )
    Export.objects.filter(pk=done.pk).update(status=ExportStatus.SUCCEEDED, enqueued_at=old)
    published.clear()

    assert services.export_requeue_stale() == 2
    assert set(published) == {lost.id, dead.id}
    assert fresh.id not in published
    assert services.export_requeue_stale() == 0  # published again just now: not stale


def test_expired_exports_are_deleted_with_their_files(
    alice: User, published: list[uuid.UUID], storage: Path
) -> None:
    expired = services.export_create(owner=alice, format="csv")
    kept = services.export_create(owner=alice, format="csv")
    for export in (expired, kept):
        services.export_run(export_id=export.id)
    Export.objects.filter(pk=expired.pk).update(expires_at=timezone.now())

    assert services.export_delete_expired() == 1
    assert list(Export.objects.values_list("id", flat=True)) == [kept.id]
    assert [path.name for path in storage.iterdir()] == [kept.file_name]


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize(("allowed", "slept"), [(True, [2.5]), (False, [])])
def test_the_export_delay_fault_is_refused_in_production(
    alice: User,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    allowed: bool,
    slept: list[float],
) -> None:
    settings.FAULT_EXPORT_DELAY_MS = 2500
    sleeps: list[float] = []
    monkeypatch.setattr("app.exports.services.time.sleep", sleeps.append)
    monkeypatch.setattr(services, "faults_allowed", lambda: allowed)
    export = services.export_create(owner=alice, format="csv")

    services.export_run(export_id=export.id)

    assert sleeps == slept
    export.refresh_from_db()
    assert export.status == "succeeded"
