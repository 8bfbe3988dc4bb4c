"""The non-blank rule: the schema's pattern, read the ECMA-262 way and the Python way, and the
server's answer agree on every code point where ECMA-262 ``\\s`` and Python's ``str.isspace``
differ (and on a few ordinary ones)."""

from __future__ import annotations

import sys
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app import whitespace
from app.todos.models import Todo
from tests.support.openapi import generate_schema

pytestmark = pytest.mark.django_db

DISAGREEING = sorted(
    chr(cp)
    for cp in range(sys.maxunicode + 1)
    if not 0xD800 <= cp <= 0xDFFF and chr(cp).isspace() != (chr(cp) in whitespace.WHITESPACE)
)
CONTROLS = [" ", "\u00a0", "\u3000", "\u200b", "x"]


def values_made_of(character: str) -> list[str]:
    return [character, character * 3, f"{character}t{character}"]


CASES = [value for character in DISAGREEING + CONTROLS for value in values_made_of(character)]


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return generate_schema()


def property_schema(schema: dict[str, Any], component: str, field: str) -> dict[str, Any]:
    documented: dict[str, Any] = schema["components"]["schemas"][component]["properties"][field]
    return documented


def schema_verdicts(field_schema: dict[str, Any], value: str) -> tuple[bool, bool]:
    """(valid read by an ECMA-262 engine, valid read by Python's re)."""
    return (
        jsonschema_rs.validator_for(field_schema).is_valid(value),
        jsonschema.Draft7Validator(field_schema).is_valid(value),
    )


def test_the_cases_cover_the_disagreeing_code_points() -> None:
    assert DISAGREEING == ["\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\ufeff"]


@pytest.mark.parametrize("value", CASES, ids=ascii)
def test_a_title_is_accepted_exactly_when_the_schema_says_it_is_valid(
    schema: dict[str, Any], alice: User, alice_client: APIClient, value: str
) -> None:
    ecma, python = schema_verdicts(property_schema(schema, "TodoRequest", "title"), value)

    response = alice_client.post("/api/todos/", {"title": value}, format="json")

    assert ecma == python == (not whitespace.is_blank(value))
    assert response.status_code == (201 if ecma else 400), response.content
    if ecma:
        assert Todo.objects.get(owner=alice).title == whitespace.strip(value)
    else:
        assert response.json() == {"title": ["This field may not be blank."]}


@pytest.mark.parametrize("value", CASES, ids=ascii)
def test_a_login_username_is_refused_as_blank_exactly_when_the_schema_says_so(
    schema: dict[str, Any], anon_client: APIClient, value: str
) -> None:
    ecma, python = schema_verdicts(
        property_schema(schema, "TokenObtainPairRequest", "username"), value
    )

    response = anon_client.post(
        "/api/auth/token/", {"username": value, "password": "whatever-it-is"}, format="json"
    )

    assert ecma == python
    # valid input, no such user: 401; blank: 400
    assert response.status_code == (401 if ecma else 400), response.content
