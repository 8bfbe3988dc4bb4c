"""Export metrics and the ``jobs`` fault target, in-process (one registry, no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from prometheus_client import REGISTRY

from app.exports import queue, services
from app.exports.metrics import COMPLETION_BUCKETS
from app.faults.middleware import InjectedFaultError
from app.faults.models import FaultSetting
from app.faults.state import state


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.EXPORT_STORAGE_DIR = tmp_path
    settings.FAULT_EXPORT_DELAY_MS = 0
    monkeypatch.setattr(queue, "enqueue_export", lambda export_id: None)
    state.reset()
    yield
    state.reset()


def test_every_series_exists_at_zero_and_60_s_is_a_bucket() -> None:
    for fmt in ("csv", "json"):
        assert (
            REGISTRY.get_sample_value("todos_exports_requested_total", {"format": fmt}) is not None
        )
        for outcome in ("succeeded", "failed"):
            labels = {"format": fmt, "outcome": outcome}
            assert REGISTRY.get_sample_value("todos_exports_finished_total", labels) is not None
    assert 60 in COMPLETION_BUCKETS
    assert (
        REGISTRY.get_sample_value(
            "todos_export_completion_seconds_bucket", {"format": "json", "le": "60.0"}
        )
        is not None
    )


def test_a_request_and_a_succeeded_run_are_counted(alice: User) -> None:
    requested = _value("todos_exports_requested_total", format="csv")
    succeeded = _value("todos_exports_finished_total", format="csv", outcome="succeeded")
    completed = _value("todos_export_completion_seconds_count", format="csv")

    export = services.export_create(owner=alice, format="csv")
    services.export_run(export_id=export.id)

    assert _value("todos_exports_requested_total", format="csv") == requested + 1
    assert (
        _value("todos_exports_finished_total", format="csv", outcome="succeeded") == succeeded + 1
    )
    assert _value("todos_export_completion_seconds_count", format="csv") == completed + 1


def test_the_jobs_fault_fails_the_run_and_counts_it_failed(alice: User) -> None:
    FaultSetting.objects.create(pk=FaultSetting.SINGLETON_ID, error_rate=1.0, routes=["jobs"])
    failed = _value("todos_exports_finished_total", format="json", outcome="failed")
    export = services.export_create(owner=alice, format="json")

    with pytest.raises(InjectedFaultError):
        services.export_run(export_id=export.id)

    export.refresh_from_db()
    assert export.status == "failed"
    assert _value("todos_exports_finished_total", format="json", outcome="failed") == failed + 1


def test_a_route_fault_leaves_jobs_alone(alice: User) -> None:
    FaultSetting.objects.create(pk=FaultSetting.SINGLETON_ID, error_rate=1.0, routes=[])
    export = services.export_create(owner=alice, format="csv")

    services.export_run(export_id=export.id)

    export.refresh_from_db()
    assert export.status == "succeeded"


def test_a_run_that_lost_its_claim_is_not_counted(alice: User) -> None:
    export = services.export_create(owner=alice, format="csv")
    attempt = services._claim(export.id)
    assert attempt is not None
    type(export).objects.filter(pk=export.pk).update(attempts=attempt + 1)
    failed = _value("todos_exports_finished_total", format="csv", outcome="failed")

    services._finish(export, attempt, status="failed", error="late")

    assert _value("todos_exports_finished_total", format="csv", outcome="failed") == failed
