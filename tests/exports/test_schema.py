"""The exports operations as the OpenAPI schema documents them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.openapi import generate_schema

EXPORTS = "/api/todos/exports/"


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return generate_schema()


def test_creating_documents_202_with_a_location_header_and_the_pending_body(
    schema: dict[str, Any],
) -> None:
    accepted = schema["paths"][EXPORTS]["post"]["responses"]["202"]
    body = schema["components"]["schemas"]["ExportAccepted"]

    assert accepted["headers"]["Location"]["schema"] == {"type": "string", "format": "uri"}
    assert body["required"] == ["id", "status", "format", "created_at", "url"]
    request = schema["components"]["schemas"]["ExportCreateRequest"]
    assert request["additionalProperties"] is False
    assert request["required"] == ["format"]


def test_the_status_lists_every_state_and_nullable_fields(schema: dict[str, Any]) -> None:
    export = schema["components"]["schemas"]["Export"]
    status_ref = export["properties"]["status"]["allOf"][0]["$ref"]

    assert status_ref == "#/components/schemas/ExportStatusEnum"
    status = schema["components"]["schemas"]["ExportStatusEnum"]
    assert set(status["enum"]) == {"pending", "running", "succeeded", "failed"}
    for field in ("finished_at", "todo_count", "download_url"):
        assert export["properties"][field]["nullable"] is True, field


def test_the_download_documents_both_file_types_and_409(schema: dict[str, Any]) -> None:
    responses = schema["paths"][f"{EXPORTS}{{id}}/download/"]["get"]["responses"]

    assert set(responses["200"]["content"]) == {"text/csv", "application/json"}
    assert "attachment" in responses["200"]["description"]
    assert responses["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
