"""TodoSerializer: strict JSON types, trimmed titles, unknown fields refused."""

from typing import Any

import pytest

from app.todos.serializers import TodoSerializer

pytestmark = pytest.mark.database_free


def errors_for(data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = TodoSerializer(data=data, partial=partial)
    assert not serializer.is_valid()
    return dict(serializer.errors)


def test_it_trims_the_title() -> None:
    serializer = TodoSerializer(data={"title": "  tidy up  ", "completed": True})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"title": "tidy up", "completed": True}


def test_completed_is_optional() -> None:
    serializer = TodoSerializer(data={"title": "x"})

    assert serializer.is_valid(), serializer.errors
    assert "completed" not in serializer.validated_data


@pytest.mark.parametrize("title", [1, 1.5, True, None, {"a": 1}])
def test_a_non_string_title_is_refused(title: Any) -> None:
    assert "title" in errors_for({"title": title})


@pytest.mark.parametrize("completed", ["true", 1, 0, None, "yes"])
def test_completed_must_be_a_json_boolean(completed: Any) -> None:
    assert "completed" in errors_for({"title": "x", "completed": completed})


def test_unknown_fields_are_named_in_the_errors() -> None:
    errors = errors_for({"title": "x", "owner": 2, "due": "tomorrow"})

    assert set(errors) == {"due", "owner"}


def test_read_only_fields_are_refused_by_name() -> None:
    serializer = TodoSerializer(data={"title": "x", "id": 5, "created_at": "now"})

    assert not serializer.is_valid()
    assert serializer.errors == {
        "id": ["Read-only field."],
        "created_at": ["Read-only field."],
    }
