"""PostgreSQL-specific behaviour: timeouts and indexes (deselected on other databases)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_statements_time_out_after_the_configured_limit() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (value,) = cursor.fetchone()

    assert value == "3s"


def test_connections_have_a_connect_timeout() -> None:
    connection.ensure_connection()
    parameters = connection.connection.info.get_parameters()

    assert parameters["connect_timeout"] == "3"


def test_connections_give_up_on_a_silent_server() -> None:
    """Replies bounded by the client (statement timeout + 0.5 s) and TCP keepalives on."""
    from app.dbbackends.replies import ReplyBoundConnection  # noqa: PLC0415

    connection.ensure_connection()
    raw = connection.connection
    parameters = raw.info.get_parameters()

    assert isinstance(raw, ReplyBoundConnection)
    assert raw.reply_timeout_s == 3.5
    assert parameters["keepalives"] == "1"
    assert parameters["tcp_user_timeout"] == "5000"


def test_connections_are_kept_between_requests_with_health_checks() -> None:
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_the_list_filters_have_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'todos_todo'")
        indexes = dict(cursor.fetchall())

    assert "owner_id, created_at DESC, id DESC" in indexes["todo_owner_created_idx"]
    assert "owner_id, completed, created_at DESC" in indexes["todo_owner_completed_idx"]
    assert "owner_id, title" in indexes["todo_owner_title_idx"]


def test_a_blank_title_is_refused_by_the_database_itself() -> None:
    owner = UserFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        connection.cursor().execute(
            "INSERT INTO todos_todo (owner_id, title, completed, created_at, updated_at) "
            "VALUES (%s, '', false, now(), now())",
            [owner.pk],
        )
