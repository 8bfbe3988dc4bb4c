"""``LoginUsernameThrottle`` in isolation: its edges that a login over HTTP rarely reaches.

(Through the API, alone and from many addresses at once: tests/accounts/test_api.py and
tests/security/test_brute_force.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from app.accounts.throttling import LOGIN_COUNTERS, LoginUsernameThrottle

pytestmark = pytest.mark.database_free


def login_request(username: str) -> Request:
    django_request = APIRequestFactory().post(
        "/api/auth/token/", {"username": username, "password": "x"}, format="json"
    )
    return Request(django_request, parsers=[JSONParser()])


def throttle_with_rate(monkeypatch: pytest.MonkeyPatch, rate: str | None) -> LoginUsernameThrottle:
    """DRF reads the rates from the class: patch them there, then build the throttle."""
    monkeypatch.setattr(LoginUsernameThrottle, "THROTTLE_RATES", {"login_user": rate})
    return LoginUsernameThrottle()


@pytest.fixture(autouse=True)
def _empty_counters() -> None:
    LOGIN_COUNTERS.clear()


class ExpiringCache:
    """A cache whose counter expires between ``add`` and ``incr`` (Redis' TTL ran out)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, key: str, value: Any, timeout: int) -> bool:
        return self.values.setdefault(key, value) is value

    def incr(self, key: str) -> int:
        self.values.pop(key, None)
        raise ValueError(f"Key '{key}' not found")

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def test_with_the_rate_off_every_attempt_is_allowed_and_none_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    throttle = throttle_with_rate(monkeypatch, None)

    allowed = [throttle.allow_request(login_request("alice"), APIView()) for _ in range(20)]

    assert all(allowed)
    assert not throttle.counted


def test_a_refund_without_a_counted_attempt_takes_nothing_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = throttle_with_rate(monkeypatch, "5/minute")
    counting.allow_request(login_request("alice"), APIView())
    assert counting.key is not None
    fresh = LoginUsernameThrottle()

    fresh.refund()

    assert LOGIN_COUNTERS.get(counting.key) == 1


def test_a_counter_expiring_between_add_and_incr_opens_a_new_window_at_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    throttle = throttle_with_rate(monkeypatch, "5/minute")
    cache = ExpiringCache()
    monkeypatch.setattr(throttle, "cache", cache)

    allowed = throttle.allow_request(login_request("alice"), APIView())

    assert allowed
    assert throttle.key is not None
    assert cache.values[throttle.key] == 1
