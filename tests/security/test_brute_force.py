"""Password guessing at ``POST /api/auth/token/`` is throttled per username and per address.

Two throttles guard the login (README "Security model"):

- per username, from any address: ``THROTTLE_LOGIN_USER_RATE`` (default 5/minute) failed
  logins, then 429 with ``Retry-After`` for that username, the right password included
  (``app.accounts.throttling.LoginUsernameThrottle``). This is the one that stops a botnet or
  rotating proxies.
- per client address, whatever the usernames: the ``auth`` scope, ``THROTTLE_AUTH_RATE``
  (default 20/minute) over register, token and refresh. The address is the TCP peer unless
  ``DJANGO_NUM_PROXIES`` says how many proxies append to ``X-Forwarded-For``; clients cannot
  pick their own by sending that header.

In-process tests vary ``REMOTE_ADDR`` (what gunicorn reports as the peer) to play many
addresses. The end-to-end test runs gunicorn (2 workers) on Redis behind one trusted proxy
(``DJANGO_NUM_PROXIES=1``), the real shape of a deployment: the attacker's addresses arrive in
``X-Forwarded-For``, the counters are shared by the workers, and parallel guesses cannot slip
past the budget.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from app.accounts.throttling import LoginUsernameThrottle
from app.accounts.views import TokenObtainPairView
from tests.factories import DEFAULT_PASSWORD
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.http import Response, http
from tests.support.python import run_python
from tests.support.servers import Server, run_server_on_new_database

TOKEN_URL = "/api/auth/token/"
REPO_ROOT = Path(__file__).resolve().parents[2]
USER_BUDGET = 3
IP_BUDGET = 4


class Clock:
    """A settable ``time.time`` for the throttle and the local-memory cache's expiry."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the throttle's timer and the cache's idea of time at a settable instant."""
    fake = Clock()
    monkeypatch.setattr(LoginUsernameThrottle, "timer", staticmethod(fake.time))
    monkeypatch.setattr("django.core.cache.backends.base.time", fake)  # expiry deadlines
    monkeypatch.setattr("django.core.cache.backends.locmem.time", fake)  # expiry checks
    return fake


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small budgets (DRF throttles read their rates at import: patch the classes)."""
    monkeypatch.setattr(
        LoginUsernameThrottle, "THROTTLE_RATES", {"login_user": f"{USER_BUDGET}/minute"}
    )
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": f"{IP_BUDGET}/minute"})
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "1000/minute"})


@pytest.fixture
def generous_ip_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the per-username throttle in play."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "1000/minute"})


def login(
    username: str,
    password: str = DEFAULT_PASSWORD,
    *,
    ip: str = "198.51.100.1",
    **headers: str,
) -> Any:
    """``POST /api/auth/token/`` as a client at ``ip``."""
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(**headers)
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def address(n: int) -> str:
    """The n-th of many client addresses (TEST-NET-3)."""
    return f"203.0.113.{n % 250 + 1}"


def assert_throttled(response: Any, *, at_most_s: int = 60) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= at_most_s
    assert "detail" in response.json()
    assert "access" not in response.json()


# ------------------------------------------------------------------ per username


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_failed_logins_for_one_username_are_throttled_from_any_address(alice: User) -> None:
    failures = [login("alice", "wrong", ip=address(n)).status_code for n in range(USER_BUDGET)]

    assert failures == [401] * USER_BUDGET
    # the right password, from an address never seen: still refused, or it would be a tell
    assert_throttled(login("alice", ip=address(99)))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_failed_logins_are_still_throttled_per_username_while_redis_is_down(
    alice: User, redis_down: Any
) -> None:
    """The counter moves to this process's memory: a Redis outage opens no guessing window."""
    failures = [login("alice", "wrong", ip=address(n)).status_code for n in range(USER_BUDGET)]

    assert redis_down.degraded
    assert failures == [401] * USER_BUDGET
    assert_throttled(login("alice", ip=address(99)))
    assert login("bob-or-anyone", "wrong", ip=address(98)).status_code == 401


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_a_successful_login_gives_its_attempt_back_while_redis_is_down(
    alice: User, redis_down: Any
) -> None:
    statuses = [
        login("alice", "wrong").status_code,
        login("alice").status_code,
        *(login("alice", "wrong").status_code for _ in range(USER_BUDGET - 1)),
    ]

    assert statuses == [401, 200, *[401] * (USER_BUDGET - 1)]
    assert_throttled(login("alice"))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_spellings_that_log_in_as_one_user_share_its_budget(alice: User) -> None:
    """The throttle trims the username as the token endpoint does (app.whitespace)."""
    spellings = ["alice\ufeff", "\u3000alice", "ALICE "]
    failures = [login(name, "wrong", ip=address(n)).status_code for n, name in enumerate(spellings)]

    assert failures == [401] * USER_BUDGET
    assert_throttled(login("alice", ip=address(99)))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_a_throttled_username_does_not_affect_other_users(alice: User, bob: User) -> None:
    for n in range(USER_BUDGET + 2):
        login("alice", "wrong", ip=address(n))

    assert login("bob", ip=address(0)).status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_successful_logins_use_no_budget(alice: User) -> None:
    successes = [login("alice").status_code for _ in range(USER_BUDGET * 3)]
    failures = [login("alice", "wrong").status_code for _ in range(USER_BUDGET)]

    assert successes == [200] * USER_BUDGET * 3
    assert failures == [401] * USER_BUDGET
    assert_throttled(login("alice"))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_a_success_in_between_does_not_reset_the_failures(alice: User) -> None:
    statuses = [
        login("alice", "wrong").status_code,
        login("alice").status_code,
        *(login("alice", "wrong").status_code for _ in range(USER_BUDGET - 1)),
    ]

    assert statuses == [401, 200, *[401] * (USER_BUDGET - 1)]
    assert_throttled(login("alice"))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_case_and_surrounding_spaces_do_not_buy_more_guesses(alice: User) -> None:
    for variant in ["alice", "ALICE", " Alice "][:USER_BUDGET]:
        assert login(variant, "wrong").status_code == 401

    assert_throttled(login("alice"))


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate")
def test_the_window_closes_a_minute_after_the_first_failure(alice: User, clock: Clock) -> None:
    login("alice", "wrong")
    clock.now += 20
    for _ in range(USER_BUDGET - 1):
        login("alice", "wrong")
    clock.now += 10

    refused = login("alice")
    clock.now += 30.5

    assert_throttled(refused)
    assert int(refused["Retry-After"]) == 30  # the window opened 30 s before, lasts 60 s
    assert login("alice").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
def test_requests_without_a_username_are_not_counted_against_anyone(alice: User) -> None:
    client = APIClient()
    for body in ({}, {"password": "x"}, {"username": "", "password": "x"}, {"username": 7}):
        assert client.post(TOKEN_URL, body, format="json").status_code == 400

    assert login("alice").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "generous_ip_rate", "clock")
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [('{"username": "alice", "pass', "application/json", 400), ("a=b", "text/plain", 415)],
)
def test_unreadable_bodies_keep_their_own_errors(
    alice: User, body: str, content_type: str, status: int
) -> None:
    response = APIClient().generic("POST", TOKEN_URL, body, content_type=content_type)

    assert response.status_code == status
    assert "detail" in response.json()


def test_the_throttles_cache_key_holds_no_username() -> None:
    username = f"someone-{secrets.token_hex(6)}"
    request = APIRequestFactory().post(
        TOKEN_URL, {"username": username, "password": "x"}, format="json"
    )
    view = TokenObtainPairView()
    drf_request = view.initialize_request(request)

    key = LoginUsernameThrottle().get_cache_key(drf_request, view)

    assert key is not None
    assert key.startswith("throttle_login_user_")
    assert username not in key
    assert username.upper() not in key


# ------------------------------------------------------------------ per address


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "clock")
def test_many_usernames_from_one_address_are_throttled_per_address() -> None:
    attempts = [
        login(f"guess{n}", "wrong", ip="198.51.100.7").status_code for n in range(IP_BUDGET)
    ]

    assert attempts == [401] * IP_BUDGET
    assert_throttled(login("guess-next", "wrong", ip="198.51.100.7"))
    assert login("guess-elsewhere", "wrong", ip="198.51.100.8").status_code == 401


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "clock")
def test_a_forged_forwarded_for_header_does_not_reset_the_address_budget() -> None:
    """Without DJANGO_NUM_PROXIES (the default 0) X-Forwarded-For is not believed."""
    statuses = [
        login(f"guess{n}", "wrong", ip="198.51.100.7", HTTP_X_FORWARDED_FOR=address(n)).status_code
        for n in range(IP_BUDGET + 1)
    ]

    assert statuses == [*[401] * IP_BUDGET, 429]


@pytest.mark.django_db
@pytest.mark.usefixtures("rates", "clock")
def test_behind_one_proxy_the_address_is_the_one_the_proxy_appended(settings: Any) -> None:
    """DJANGO_NUM_PROXIES=1: the last X-Forwarded-For entry counts; earlier ones are forged."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"

    forged = [
        login(
            f"guess{n}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=f"{address(n)}, 192.0.2.50"
        ).status_code
        for n in range(IP_BUDGET + 1)
    ]
    other_client = login("guess", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.51")

    assert forged == [*[401] * IP_BUDGET, 429]
    assert other_client.status_code == 401


# ------------------------------------------------------------------ configuration

PRINT_AUTH_SETTINGS = """
import json
import django
from django.conf import settings

django.setup()
framework = settings.REST_FRAMEWORK
print(json.dumps({
    "rates": framework["DEFAULT_THROTTLE_RATES"],
    "num_proxies": framework["NUM_PROXIES"],
}))
"""


def load_settings(**values: str) -> subprocess.CompletedProcess[str]:
    """Settings as a fresh production-like process reads them, with ``values`` set."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("THROTTLE_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="app.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="example.com",
        **values,
    )
    return run_python(PRINT_AUTH_SETTINGS, env)


def test_the_defaults_are_5_failures_a_minute_per_username_and_20_requests_per_address() -> None:
    result = load_settings()

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["rates"]["login_user"] == "5/minute"
    assert loaded["rates"]["auth"] == "20/minute"
    assert loaded["num_proxies"] == 0


def test_the_login_rates_and_proxy_count_come_from_the_environment() -> None:
    result = load_settings(
        THROTTLE_LOGIN_USER_RATE="10/hour", THROTTLE_AUTH_RATE="30/minute", DJANGO_NUM_PROXIES="2"
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert (loaded["rates"]["login_user"], loaded["rates"]["auth"]) == ("10/hour", "30/minute")
    assert loaded["num_proxies"] == 2


def test_a_malformed_login_rate_stops_the_process_naming_the_variable() -> None:
    result = load_settings(THROTTLE_LOGIN_USER_RATE="five")

    assert result.returncode != 0
    assert "THROTTLE_LOGIN_USER_RATE='five'" in result.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------ the real server, on Redis

E2E_USER_RATE = 5
E2E_IP_RATE = 8


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn, 2 workers, throttle counters in Redis, behind one (simulated) proxy."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    overrides = {
        "REDIS_URL": REDIS_URL,
        "DJANGO_NUM_PROXIES": "1",
        "THROTTLE_LOGIN_USER_RATE": f"{E2E_USER_RATE}/minute",
        "THROTTLE_AUTH_RATE": f"{E2E_IP_RATE}/minute",
        "THROTTLE_ANON_RATE": "1000/minute",
        "WEB_CONCURRENCY": "2",
    }
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("brute-force")
    ) as running:
        yield running


def e2e_login(server: Server, username: str, password: str, client_ip: str) -> Response:
    return http(
        "POST",
        f"{server.url}{TOKEN_URL}",
        json_body={"username": username, "password": password},
        headers={"X-Forwarded-For": client_ip},
    )


def random_ip() -> str:
    """A fresh client address (10/8), so runs and tests never share a per-address counter."""
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


@pytest.mark.e2e
def test_parallel_guesses_from_many_addresses_get_the_budget_and_no_more(
    redis_server: Server,
) -> None:
    username = f"victim-{secrets.token_hex(5)}"
    password = f"pw-{secrets.token_urlsafe(18)}"
    registered = http(
        "POST",
        f"{redis_server.url}/api/auth/register/",
        json_body={"username": username, "password": password},
        headers={"X-Forwarded-For": random_ip()},
    )
    assert registered.status == 201, registered

    with ThreadPoolExecutor(max_workers=8) as pool:
        guesses = list(
            pool.map(
                lambda n: e2e_login(redis_server, username, f"guess-{n}", random_ip()), range(24)
            )
        )
    right_password = e2e_login(redis_server, username, password, random_ip())

    statuses = sorted(response.status for response in guesses)
    assert statuses == [401] * E2E_USER_RATE + [429] * (24 - E2E_USER_RATE), statuses
    assert right_password.status == 429, right_password
    assert 1 <= int(right_password.headers["Retry-After"]) <= 60
    # the counter lives in Redis under a hash, not the username
    client = redis.Redis.from_url(REDIS_URL)
    keys = [key.decode() for key in client.scan_iter(match="*throttle_login_user_*")]
    assert keys
    assert not [key for key in keys if username in key or username.casefold() in key]


@pytest.mark.e2e
def test_many_usernames_from_one_address_hit_the_address_budget(redis_server: Server) -> None:
    attacker = random_ip()

    statuses = [
        e2e_login(redis_server, f"guess-{secrets.token_hex(4)}", "x", attacker).status
        for _ in range(E2E_IP_RATE)
    ]
    refused = e2e_login(redis_server, f"guess-{secrets.token_hex(4)}", "x", attacker)

    assert statuses == [401] * E2E_IP_RATE
    assert refused.status == 429, refused
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert e2e_login(redis_server, "guess-elsewhere", "x", random_ip()).status == 401
