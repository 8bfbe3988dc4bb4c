"""A silent PostgreSQL server fails a query within the reply bound, and the connection is dropped.

Driven against the suite's PostgreSQL through a ``TcpProxy`` that hangs (accepts, forwards
nothing) and through a real partition (packets dropped on a veth pair of the test's own).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from psycopg import errors

from app.dbbackends.replies import (
    SILENCE,
    ReplyBoundConnection,
    SilenceMemory,
    bound_replies,
    replies_within,
)
from tests.support.partition import NetworkPartition, require_partitions
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres]

BOUND_S = 0.5
SLACK_S = 0.5  # scheduling and the closing of the connection


def _target() -> tuple[str, int]:
    settings_dict = connection.settings_dict
    return str(settings_dict["HOST"] or "127.0.0.1"), int(settings_dict["PORT"] or 5432)


def _connect(host: str, port: int) -> psycopg.Connection[Any]:
    settings_dict = connection.settings_dict
    return psycopg.connect(
        host=host,
        port=port,
        user=settings_dict["USER"] or "postgres",
        password=settings_dict["PASSWORD"] or None,
        dbname=settings_dict["NAME"],
        connect_timeout=2,
        autocommit=True,
    )


@pytest.fixture(autouse=True)
def _forget_silences() -> Iterator[None]:
    """The process-wide memory of a silent server must not refuse the suite's own connections."""
    yield
    SILENCE.heard_back()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(*_target()) as running:
        yield running


def _timed_failure(conn: psycopg.Connection[Any]) -> tuple[float, BaseException]:
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as raised:
        conn.execute("SELECT 1")
    return time.monotonic() - started, raised.value


def test_a_hung_server_fails_the_query_within_the_bound_and_the_connection_is_dropped(
    proxy: TcpProxy,
) -> None:
    conn = _connect(*proxy.address)
    bound_replies(conn, BOUND_S)
    assert conn.execute("SELECT 1").fetchone() == (1,)

    proxy.hang()
    elapsed, error = _timed_failure(conn)

    assert BOUND_S <= elapsed < BOUND_S + SLACK_S
    assert "no reply from the database server within 0.5 s" in str(error)
    assert not isinstance(error, errors._WaitTimeout)  # a public error Django maps to its own
    assert conn.closed  # never reused: its protocol state is unknown
    with pytest.raises(psycopg.OperationalError, match="stopped answering"):
        SILENCE.check()  # new connections are held off for a while


def test_new_connections_are_held_off_for_the_hold_period_then_tried_again() -> None:
    memory = SilenceMemory(hold_s=0.3)
    memory.check()  # nothing heard yet: go ahead

    memory.heard_nothing()
    with pytest.raises(psycopg.OperationalError, match=r"next attempt in 0\.[0-3] s"):
        memory.check()
    time.sleep(0.35)  # the hold period itself is what is tested
    memory.check()
    memory.heard_nothing()
    memory.heard_back()
    memory.check()


def test_a_commit_on_a_hung_server_is_bounded_too(proxy: TcpProxy) -> None:
    conn = _connect(*proxy.address)
    conn.autocommit = False
    bound_replies(conn, BOUND_S)
    conn.execute("SELECT 1")

    proxy.hang()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError):
        conn.commit()

    assert time.monotonic() - started < BOUND_S + SLACK_S


def test_an_unbound_connection_keeps_psycopg_behaviour_and_a_caller_timeout_stays_its_own(
    proxy: TcpProxy,
) -> None:
    conn = _connect(*proxy.address)
    bound_replies(conn, None)
    assert isinstance(conn, ReplyBoundConnection)
    proxy.hang()

    with pytest.raises(errors._WaitTimeout):  # the caller asked for 0.2 s: psycopg's own error
        conn.wait(conn._exec_command(b"SELECT 1"), timeout=0.2)
    assert not conn.closed


def test_a_tightened_bound_applies_inside_the_block_only(proxy: TcpProxy) -> None:
    conn = _connect(*proxy.address)
    bound_replies(conn, 30.0)

    with replies_within(conn, 0.3):
        assert conn.reply_timeout_s == 0.3  # type: ignore[attr-defined]
        proxy.hang()
        elapsed, _ = _timed_failure(conn)
    assert conn.reply_timeout_s == 30.0  # type: ignore[attr-defined]
    assert elapsed < 0.3 + SLACK_S


def test_a_partitioned_server_fails_the_query_within_the_bound() -> None:
    require_partitions()
    with NetworkPartition(*_target()) as path:
        conn = _connect(path.ns_address, path.port)
        bound_replies(conn, BOUND_S)
        assert conn.execute("SELECT 1").fetchone() == (1,)

        path.partition()
        elapsed, _ = _timed_failure(conn)
        assert elapsed < BOUND_S + SLACK_S
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError):  # a new connection: connect_timeout
            _connect(path.ns_address, path.port)
        connect_failed_s = time.monotonic() - started

        path.heal()
        healed = _connect(path.ns_address, path.port)
        assert healed.execute("SELECT 1").fetchone() == (1,)
    assert 2.0 <= connect_failed_s < 2.0 + SLACK_S + 0.5
