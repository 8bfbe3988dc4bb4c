"""The exports endpoints in-process (the worker faked): errors, ownership, the 503 path."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app.exports import queue, services
from app.exports.models import Export

EXPORTS = "/api/todos/exports/"


@pytest.fixture(autouse=True)
def published(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> list[uuid.UUID]:
    settings.EXPORT_STORAGE_DIR = tmp_path
    ids: list[uuid.UUID] = []
    monkeypatch.setattr(queue, "enqueue_export", ids.append)
    return ids


def test_an_unreachable_broker_is_a_503_with_retry_after(
    alice_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(export_id: uuid.UUID) -> None:
        raise queue.QueueUnavailableError("refused")

    monkeypatch.setattr(queue, "enqueue_export", down)

    answer = alice_client.post(EXPORTS, {"format": "csv"}, format="json")

    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer.json() == {"detail": "Service temporarily unavailable, retry later."}
    assert not Export.objects.exists()


def test_unknown_fields_and_formats_are_400s(alice_client: APIClient) -> None:
    unknown = alice_client.post(EXPORTS, {"format": "csv", "owner": 1}, format="json")
    missing = alice_client.post(EXPORTS, {}, format="json")

    assert (unknown.status_code, list(unknown.json())) == (400, ["owner"])
    assert (missing.status_code, list(missing.json())) == (400, ["format"])


def test_anonymous_callers_get_401(anon_client: APIClient) -> None:
    assert anon_client.post(EXPORTS, {"format": "csv"}, format="json").status_code == 401
    assert anon_client.get(f"{EXPORTS}{uuid.uuid4()}/").status_code == 401


@pytest.mark.parametrize("suffix", ["", "download/"])
def test_another_users_or_an_unknown_export_is_a_404(
    alice: User, bob_client: APIClient, suffix: str
) -> None:
    export = services.export_create(owner=alice, format="csv")
    services.export_run(export_id=export.id)

    for url in (f"{EXPORTS}{export.id}/{suffix}", f"{EXPORTS}{uuid.uuid4()}/{suffix}"):
        answer = bob_client.get(url)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not found."}), url


def test_the_download_ignores_accept_and_sends_the_file(
    alice: User, alice_client: APIClient
) -> None:
    export = services.export_create(owner=alice, format="csv")
    services.export_run(export_id=export.id)

    answer = alice_client.get(f"{EXPORTS}{export.id}/download/", HTTP_ACCEPT="text/csv")

    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(answer.streaming_content).startswith(b"id,title,completed")  # type: ignore[attr-defined]


def test_a_failed_export_cannot_be_downloaded(alice: User, alice_client: APIClient) -> None:
    export = services.export_create(owner=alice, format="csv")
    Export.objects.filter(pk=export.pk).update(status="failed")

    answer = alice_client.get(f"{EXPORTS}{export.id}/download/")

    assert answer.status_code == 409
    assert answer.json() == {"detail": "The export is not ready: it is failed."}
