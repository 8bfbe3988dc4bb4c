"""Sentry's events and its part in a worker's exit (app.telemetry.errors)."""

from __future__ import annotations

import pytest
import sentry_sdk
import structlog

from app.telemetry.errors import before_send, exit_flush_seconds

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


def test_an_event_sent_while_a_request_is_served_carries_its_request_id() -> None:
    with structlog.contextvars.bound_contextvars(request_id="req-1"):
        event = before_send({"tags": {"kind": "x"}, "message": "boom"}, {})
    assert event["tags"] == {"kind": "x", "request_id": "req-1"}
    with structlog.contextvars.bound_contextvars(request_id="req-2"):
        assert before_send({"message": "boom"}, {})["tags"] == {"request_id": "req-2"}


def test_an_event_sent_outside_a_request_has_no_request_id() -> None:
    assert "tags" not in before_send({"message": "boom"}, {})


def test_events_are_still_scrubbed() -> None:
    event = before_send({"request": {"data": "x", "headers": {"Authorization": "Bearer t"}}}, {})
    assert event["request"] == {"headers": {}}
