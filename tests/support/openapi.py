"""The served OpenAPI schema as tests read it: generate it, find a response's schema, check a
body against it (the JSON Schema validators read OpenAPI 3.0's ``nullable``)."""

from __future__ import annotations

import io
from typing import Any

import jsonschema
import yaml
from django.core.management import call_command

ANONYMOUS_OPERATIONS = {
    ("/api/auth/register/", "post"),
    ("/api/auth/token/", "post"),
    ("/api/auth/token/refresh/", "post"),
    ("/healthz", "get"),
    ("/readyz", "get"),
}


def generate_schema() -> dict[str, Any]:
    """The schema as ``manage.py spectacular --validate --fail-on-warn`` writes it."""
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    document: dict[str, Any] = yaml.safe_load(out.getvalue())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(path, method)`` the schema documents."""
    return [(path, method) for path, item in document["paths"].items() for method in item]


def _with_nullable(schema: Any) -> Any:
    """A copy of ``schema`` where ``nullable: true`` is spelled as JSON Schema's null type."""
    if isinstance(schema, list):
        return [_with_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _with_nullable(value) for key, value in schema.items()}
    if copy.pop("nullable", False) and "type" in copy:
        copy["type"] = [copy["type"], "null"]
    return copy


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    """The JSON body schema documented for ``status`` of the operation."""
    response = document["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def validate_body(document: dict[str, Any], schema: Any, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``body`` matches ``schema`` (refs resolved
    against the document's components)."""
    root = {"allOf": [_with_nullable(schema)], "components": _with_nullable(document["components"])}
    jsonschema.Draft7Validator(root).validate(body)


def validate_response(
    document: dict[str, Any], path: str, method: str, status: int, body: Any
) -> None:
    """``validate_body`` with the schema documented for that operation and status."""
    validate_body(document, response_schema(document, path, method, status), body)
