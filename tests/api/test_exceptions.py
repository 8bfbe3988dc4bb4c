"""The exception handler: 400 bodies are flat field errors, outages are 503 with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.exceptions import flatten_field_errors

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("detail", "flat"),
    [
        ({"title": ["Too long."]}, {"title": ["Too long."]}),
        ({"detail": "JSON parse error."}, {"detail": "JSON parse error."}),
        (
            {"routes": {0: ["Blank."], 3: ["Not a string."]}},
            {"routes.0": ["Blank."], "routes.3": ["Not a string."]},
        ),
        ({"items": [{}, {"title": ["Blank."]}]}, {"items.1.title": ["Blank."]}),
        ({"a": {"b": {"c": ["Deep."]}}, "d": ["Flat."]}, {"a.b.c": ["Deep."], "d": ["Flat."]}),
    ],
)
def test_nested_field_errors_become_dotted_paths(
    detail: dict[str, Any], flat: dict[str, Any]
) -> None:
    assert flatten_field_errors(detail) == flat
