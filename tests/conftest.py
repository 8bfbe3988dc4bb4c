"""Shared fixtures: users (alice, bob), authenticated API clients, fake telemetry backends
for the real-server tests, and test-run plumbing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from app.accounts.throttling import LOGIN_COUNTERS
from app.api.throttling import REQUEST_COUNTERS
from tests.factories import UserFactory
from tests.support import images
from tests.support.api_clients import client_for
from tests.support.caches import resilient_cache, unreachable_redis_url
from tests.support.receivers import BlackHole, OtlpReceiver, SentryReceiver

# What gives a test in-process database access (pytest-django refuses it to any other test).
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
)


def _reaches_the_database(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("django_db") is not None or bool(
        DATABASE_FIXTURES.intersection(fixtures)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a ``database_free`` mark on a test with database access; deselect
    PostgreSQL-only tests when the suite runs on another database."""
    wrongly_free = [
        item.nodeid
        for item in items
        if item.get_closest_marker("database_free") and _reaches_the_database(item)
    ]
    if wrongly_free:
        raise pytest.UsageError(
            "marked database_free but using the database: " + ", ".join(wrongly_free)
        )
    if connection.vendor == "postgresql":
        return
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    """In-process tests render pages without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2id at production strength costs tens of ms a hash, PBKDF2 ~0.3 s; these tests are
    not about hashing (tests/accounts/test_hashers.py is)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Throttle counters and cached values never leak between tests (nor do the per-process
    counters kept while Redis was down)."""
    stores = (cache, REQUEST_COUNTERS.local, LOGIN_COUNTERS.local)
    for store in stores:
        store.clear()
    yield
    for store in stores:
        store.clear()


@pytest.fixture
def redis_down(settings: Any) -> Any:
    """The default cache is the resilient Redis backend, and that Redis is unreachable."""
    return resilient_cache(settings, unreachable_redis_url())


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory.create(username="bob")


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return client_for(bob)


# ------------------------------------------------------------------ fake telemetry backends
@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP trace collector for the calling module's servers."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def sentry() -> Iterator[SentryReceiver]:
    """A Sentry ingestion endpoint for the calling module's servers."""
    with SentryReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def black_hole() -> Iterator[BlackHole]:
    """An endpoint that accepts connections and never answers (a hung collector or Sentry)."""
    with BlackHole() as hole:
        yield hole


# ------------------------------------------------------------------ container image
@pytest.fixture(scope="session")
def project_image() -> images.BuiltImage:
    """The image built from the Dockerfile on the local debootstrap base (cached base)."""
    return images.build()
