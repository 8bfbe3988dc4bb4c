"""Registration, JWT tokens and throttling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import jsonschema_rs
import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from prometheus_client import REGISTRY
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from app.accounts import services
from app.accounts.services import DUPLICATE_USERNAME
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.support.openapi import generate_schema

pytestmark = pytest.mark.django_db

REGISTER_URL = "/api/auth/register/"
TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"


# ------------------------------------------------------------------ register


def test_register_creates_a_user_with_a_hashed_password(anon_client: APIClient) -> None:
    response = anon_client.post(
        REGISTER_URL, {"username": "carol", "password": "a-long-secret-pass"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username"}
    user = User.objects.get(pk=body["id"])
    assert user.username == "carol"
    assert user.check_password("a-long-secret-pass")
    assert "a-long-secret-pass" not in user.password


def test_register_refuses_a_taken_username(alice: User, anon_client: APIClient) -> None:
    response = anon_client.post(
        REGISTER_URL, {"username": "alice", "password": "a-long-secret-pass"}, format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.filter(username="alice").count() == 1


def database_errors() -> float:
    """Every ``django_db_errors_total`` of the run, all aliases and types together."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "django_db_errors"
        for sample in metric.samples
        if sample.name == "django_db_errors_total"
    )


def test_a_taken_username_is_not_a_database_error(alice: User, anon_client: APIClient) -> None:
    """Found by a read before the insert: the django-mixin's DjangoDatabaseException stays
    quiet for an ordinary taken name."""
    errors = database_errors()

    response = anon_client.post(
        REGISTER_URL, {"username": "alice", "password": "a-long-secret-pass"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["username"] == [DUPLICATE_USERNAME]
    assert database_errors() == errors


def test_a_registration_racing_for_the_name_gets_the_same_answer(
    alice: User, anon_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read said free, then the unique constraint refused the insert (another registration
    took the name in between): still a 400 on the username, counted as the database error it
    is."""
    monkeypatch.setattr(services, "user_username_taken", lambda *, username: False)
    errors = database_errors()

    response = anon_client.post(
        REGISTER_URL, {"username": "alice", "password": "a-long-secret-pass"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["username"] == [DUPLICATE_USERNAME]
    assert database_errors() == errors + 1
    assert User.objects.filter(username="alice").count() == 1


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "carol1234"])
def test_register_applies_the_password_validators(anon_client: APIClient, password: str) -> None:
    response = anon_client.post(
        REGISTER_URL, {"username": "carol", "password": password}, format="json"
    )

    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "carol"},
        {"password": "a-long-secret-pass"},
        {"username": "bad name!", "password": "a-long-secret-pass"},
        {"username": "x" * 151, "password": "a-long-secret-pass"},
        {"username": 42, "password": "a-long-secret-pass"},
        {"username": "carol", "password": "a-long-secret-pass", "is_staff": True},
    ],
)
def test_register_refuses_invalid_input(anon_client: APIClient, payload: dict[str, Any]) -> None:
    response = anon_client.post(REGISTER_URL, payload, format="json")

    assert response.status_code == 400
    assert not User.objects.exists()


@pytest.mark.parametrize(("password", "status"), [("kx7#qpz", 400), ("kx7#qpzw", 201)])
def test_register_refuses_passwords_shorter_than_the_documented_8(
    anon_client: APIClient, password: str, status: int
) -> None:
    response = anon_client.post(
        REGISTER_URL, {"username": "carol", "password": password}, format="json"
    )

    assert response.status_code == status
    if status == 400:
        assert response.json() == {"password": ["Ensure this field has at least 8 characters."]}


def test_a_password_with_surrounding_spaces_registers_and_logs_in_as_typed(
    anon_client: APIClient,
) -> None:
    """simplejwt trimmed the login password while registration kept it: no way to log in."""
    password = "  spaced-out secret "
    registered = anon_client.post(
        REGISTER_URL, {"username": "carol", "password": password}, format="json"
    )

    assert registered.status_code == 201
    assert obtain(anon_client, "carol", password).status_code == 200
    assert obtain(anon_client, "carol", password.strip()).status_code == 401


@pytest.mark.parametrize(
    ("url", "payload"),
    [
        (TOKEN_URL, {"username": "a" * 151, "password": "x"}),
        (TOKEN_URL, {"username": "alice", "password": "x" * 129}),
        (REFRESH_URL, {"refresh": "x" * 1025}),
    ],
)
def test_token_inputs_over_their_maximum_length_are_a_400(
    alice: User, anon_client: APIClient, url: str, payload: dict[str, str]
) -> None:
    response = anon_client.post(url, payload, format="json")

    assert response.status_code == 400
    ((field, (message,)),) = response.json().items()
    assert field in payload
    assert message.startswith("Ensure this field has no more than")


@pytest.mark.parametrize("username", ["alice\ufeff", "\u3000alice", " alice\n"])
def test_the_login_username_is_trimmed_of_the_schemas_whitespace(
    alice: User, anon_client: APIClient, username: str
) -> None:
    assert obtain(anon_client, username).status_code == 200


@pytest.mark.parametrize("username", ["alice\x1c", "\x85alice"])
def test_python_only_whitespace_is_part_of_the_login_username(
    alice: User, anon_client: APIClient, username: str
) -> None:
    assert obtain(anon_client, username).status_code == 401


@pytest.mark.parametrize(
    ("username", "valid"),
    [
        ("carol", True),
        ("C.a_r+o-l@x9", True),
        ("j\u00f3zef", False),  # a Unicode letter: `\w` to Python's re, not to ECMA-262
        ("a\u0663", False),  # an Arabic-Indic digit, the same
        ("\u01c5", False),
        (" carol", False),  # not trimmed: the pattern sees the value as sent
        ("carol\ufeff", False),
        ("carol\n", False),
    ],
)
def test_register_accepts_a_username_exactly_when_the_schemas_pattern_does(
    anon_client: APIClient, django_db_blocker: Any, username: str, valid: bool
) -> None:
    with django_db_blocker.unblock():
        documented = generate_schema()["components"]["schemas"]["RegisterRequest"]
    field = documented["properties"]["username"]

    response = anon_client.post(
        REGISTER_URL, {"username": username, "password": "a-long-secret-pass"}, format="json"
    )

    assert jsonschema_rs.validator_for(field).is_valid(username) is valid  # ECMA-262's reading
    assert response.status_code == (201 if valid else 400), response.content
    if not username.endswith("\n"):  # Python's `$` also matches before a final newline
        assert jsonschema.Draft7Validator(field).is_valid(username) is valid


def test_register_never_echoes_the_password(anon_client: APIClient) -> None:
    response = anon_client.post(
        REGISTER_URL, {"username": "carol", "password": "a-long-secret-pass"}, format="json"
    )

    assert "a-long-secret-pass" not in response.content.decode()


# ------------------------------------------------------------------ tokens


def obtain(client: APIClient, username: str, password: str = DEFAULT_PASSWORD) -> Any:
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_token_returns_an_access_and_a_refresh_token(alice: User, anon_client: APIClient) -> None:
    response = obtain(anon_client, "alice")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert AccessToken(response.json()["access"])["user_id"] == str(alice.pk)


def test_the_access_token_opens_the_todo_api(alice: User, anon_client: APIClient) -> None:
    access = obtain(anon_client, "alice").json()["access"]

    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    assert anon_client.get("/api/todos/").status_code == 200


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("nobody", "x")])
def test_token_refuses_bad_credentials(
    alice: User, anon_client: APIClient, username: str, password: str
) -> None:
    response = obtain(anon_client, username, password)

    assert response.status_code == 401
    assert "access" not in response.json()


def test_token_refuses_an_inactive_user(anon_client: APIClient) -> None:
    UserFactory.create(username="gone", is_active=False)

    assert obtain(anon_client, "gone").status_code == 401


def test_refresh_returns_a_new_access_token(alice: User, anon_client: APIClient) -> None:
    refresh = obtain(anon_client, "alice").json()["refresh"]

    response = anon_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert response.status_code == 200
    assert AccessToken(response.json()["access"])["user_id"] == str(alice.pk)


def test_refresh_refuses_an_access_token(alice: User, anon_client: APIClient) -> None:
    access = obtain(anon_client, "alice").json()["access"]

    response = anon_client.post(REFRESH_URL, {"refresh": access}, format="json")

    assert response.status_code == 401


def bearer(client: APIClient, token: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_refresh_token_is_not_an_access_token(alice: User, anon_client: APIClient) -> None:
    refresh = str(RefreshToken.for_user(alice))

    assert bearer(anon_client, refresh).get("/api/todos/").status_code == 401


def test_an_expired_access_token_is_refused(alice: User, anon_client: APIClient) -> None:
    token = AccessToken.for_user(alice)
    token.set_exp(lifetime=-timedelta(seconds=1))

    assert bearer(anon_client, str(token)).get("/api/todos/").status_code == 401


def test_a_tampered_access_token_is_refused(alice: User, bob: User, anon_client: APIClient) -> None:
    claims = dict(AccessToken.for_user(alice).payload)
    claims["user_id"] = str(bob.pk)
    forged = jwt.encode(
        claims, "not-the-server-secret-but-long-enough-for-hs256", algorithm="HS256"
    )

    assert bearer(anon_client, forged).get("/api/todos/").status_code == 401


def test_an_unsigned_token_is_refused(alice: User, anon_client: APIClient) -> None:
    claims = dict(AccessToken.for_user(alice).payload)
    unsigned = jwt.encode(claims, None, algorithm="none")

    assert bearer(anon_client, unsigned).get("/api/todos/").status_code == 401


def test_a_token_for_a_deleted_user_is_refused(alice: User, anon_client: APIClient) -> None:
    token = str(AccessToken.for_user(alice))
    alice.delete()

    assert bearer(anon_client, token).get("/api/todos/").status_code == 401


def test_tokens_are_signed_with_the_secret_key(alice: User) -> None:
    token = str(AccessToken.for_user(alice))

    assert jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])["user_id"] == str(alice.pk)


# ------------------------------------------------------------------ throttling


@pytest.fixture
def strict_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny rates; DRF throttles read their rates once, at import, so patch the classes."""
    rates = {"anon": "100/minute", "user": "3/minute", "auth": "2/minute"}
    for throttle in (AnonRateThrottle, UserRateThrottle, ScopedRateThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", rates)


@pytest.mark.usefixtures("strict_rates")
def test_register_is_throttled_by_the_auth_rate_with_retry_after(
    anon_client: APIClient,
) -> None:
    statuses = [
        anon_client.post(
            REGISTER_URL, {"username": f"u{n}", "password": "a-long-secret-pass"}, format="json"
        )
        for n in range(3)
    ]

    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert int(statuses[-1]["Retry-After"]) > 0
    assert "detail" in statuses[-1].json()
    assert User.objects.count() == 2


@pytest.mark.usefixtures("strict_rates")
def test_token_is_throttled_by_the_auth_rate(alice: User, anon_client: APIClient) -> None:
    statuses = [obtain(anon_client, "alice").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@pytest.mark.usefixtures("strict_rates")
def test_the_todo_api_is_throttled_per_user(alice_client: APIClient, bob_client: APIClient) -> None:
    alice_statuses = [alice_client.get("/api/todos/").status_code for _ in range(4)]

    assert alice_statuses == [200, 200, 200, 429]
    assert bob_client.get("/api/todos/").status_code == 200


def test_anonymous_requests_are_throttled_by_client(
    monkeypatch: pytest.MonkeyPatch, anon_client: APIClient
) -> None:
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "100/minute"})

    statuses = [obtain(anon_client, "nobody", "x").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
