"""A bound on how long a PostgreSQL connection waits for the server to answer.

Two kinds of silence leave a request waiting forever on an open connection: a network
partition (no packet comes back) and a server or pooler that accepts and then never answers (a
frozen primary, PgBouncer or a cloud SQL proxy in front of a dead database: TCP stays healthy,
so keepalives and ``tcp_user_timeout`` see nothing wrong). PostgreSQL's ``statement_timeout``
cannot help either: it runs in the server that is not answering. Without a client-side bound
the request waits until gunicorn kills the worker, and every worker can end up stuck at once.

psycopg waits for every reply (queries, fetches, commits, rollbacks) in ``Connection.wait``,
which takes a timeout; ``ReplyBoundConnection`` supplies one when the caller did not. When it
expires, the connection is closed at once (its protocol state is unknown, so it must never be
reused) and the caller gets an ``OperationalError``: Django's 503 for a database outage. New
connections are bounded by libpq's ``connect_timeout``, which covers the whole handshake.

Once the server has been silent (a reply or a connection timed out), the process stops paying
that timeout on every request: for ``SILENCE_HOLD_S`` new connections fail at once (the same
503), then one attempt goes through again. A sync worker therefore spends at most one timeout
per hold period on a silent database and answers the rest in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors

RV = TypeVar("RV")

# After a silence, how long new connections fail at once before one attempt is let through.
SILENCE_HOLD_S = 3.0


class SilenceMemory:
    """This process's memory of a database server that stopped answering."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._until = 0.0

    def heard_nothing(self) -> None:
        """A reply or a connection timed out: hold new connections off for ``hold_s``."""
        self._until = time.monotonic() + self.hold_s

    def heard_back(self) -> None:
        """A connection was made: no more holding off."""
        self._until = 0.0

    def check(self) -> None:
        """Raise ``OperationalError`` at once while holding off after a silence."""
        remaining = self._until - time.monotonic()
        if remaining > 0:
            raise psycopg.OperationalError(
                f"the database server stopped answering: next attempt in {remaining:.1f} s"
            )


SILENCE = SilenceMemory(SILENCE_HOLD_S)

# Django's health check (``SELECT 1`` when a request first uses a reused connection) needs no
# more than this: a live server answers it in milliseconds.
HEALTH_CHECK_TIMEOUT_S = 1.0


class ReplyBoundConnection(psycopg.Connection[Any]):
    """A psycopg connection that gives up on a reply after ``reply_timeout_s`` seconds."""

    reply_timeout_s: float | None = None

    def wait(self, gen: Any, interval: float | None = None, timeout: float | None = None) -> Any:
        """psycopg's wait, bounded by ``reply_timeout_s`` unless the caller set a timeout."""
        limit = timeout if timeout is not None else self.reply_timeout_s
        pacing = {} if interval is None else {"interval": interval}
        try:
            return super().wait(gen, timeout=limit, **pacing)
        except errors._WaitTimeout:  # psycopg's own "wait timeout expired"
            if timeout is not None:
                raise  # the caller's timeout, the caller's business
            self.pgconn.finish()  # mid-protocol: never reuse it
            SILENCE.heard_nothing()
            raise psycopg.OperationalError(
                f"no reply from the database server within {limit:g} s"
            ) from None


def bound_replies(connection: psycopg.Connection[Any], seconds: float | None) -> None:
    """Make ``connection`` give up on replies after ``seconds`` (``None``: wait forever)."""
    connection.__class__ = ReplyBoundConnection
    connection.reply_timeout_s = seconds  # type: ignore[attr-defined]


@contextmanager
def replies_within(connection: Any, seconds: float) -> Iterator[None]:
    """Temporarily tighten a bound connection's reply timeout (no-op on other connections)."""
    if not isinstance(connection, ReplyBoundConnection):
        yield
        return
    previous = connection.reply_timeout_s
    connection.reply_timeout_s = seconds if previous is None else min(seconds, previous)
    try:
        yield
    finally:
        connection.reply_timeout_s = previous


class ReplyBoundWrapperMixin:
    """For a Django PostgreSQL ``DatabaseWrapper``: every connection it opens is reply-bound.

    The bound comes from the database's ``REPLY_TIMEOUT_SECONDS`` setting (``None`` or absent:
    unbounded, psycopg's default); the health check of a reused connection gets at most
    ``HEALTH_CHECK_TIMEOUT_S``.
    """

    settings_dict: dict[str, Any]
    connection: Any

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        """Django's new connection, reply-bound; refused at once after a recent silence."""
        SILENCE.check()
        try:
            connection = super().get_new_connection(conn_params)  # type: ignore[misc]
        except errors.ConnectionTimeout:
            SILENCE.heard_nothing()
            raise
        SILENCE.heard_back()
        bound_replies(connection, self.settings_dict.get("REPLY_TIMEOUT_SECONDS"))
        return connection

    def is_usable(self) -> bool:
        """Django's health check (``SELECT 1``), failing after ``HEALTH_CHECK_TIMEOUT_S``."""
        with replies_within(self.connection, HEALTH_CHECK_TIMEOUT_S):
            usable: bool = super().is_usable()  # type: ignore[misc]
        return usable
