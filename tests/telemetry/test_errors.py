"""Sentry's part in a worker's exit (app.telemetry.errors.exit_flush_seconds)."""

from __future__ import annotations

import pytest
import sentry_sdk

from app.telemetry.errors import exit_flush_seconds

pytestmark = pytest.mark.database_free


def test_without_sentry_nothing_is_flushed_at_exit() -> None:
    assert not sentry_sdk.get_client().is_active()
    assert exit_flush_seconds() == 0.0


def test_with_sentry_on_its_shutdown_timeout_is_the_time_its_exit_flush_may_take() -> None:
    client = sentry_sdk.Client(
        "http://public@127.0.0.1:9/1", shutdown_timeout=3.5, default_integrations=False
    )
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            assert exit_flush_seconds() == 3.5
    finally:
        client.close(timeout=0)
    assert not sentry_sdk.get_client().is_active()
