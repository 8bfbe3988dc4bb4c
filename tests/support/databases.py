"""Temporary databases for servers the tests start: a SQLite file or a PostgreSQL database."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from django.db import connection
from psycopg import sql


def sqlite_url(directory: Path) -> str:
    """A ``DATABASE_URL`` for a new SQLite file in ``directory``."""
    return f"sqlite:///{(directory / 'db.sqlite3').resolve()}"


def postgres_admin(settings_dict: Mapping[str, Any]) -> psycopg.Connection[Any]:
    """An autocommit connection to the ``postgres`` maintenance database (as Django uses)."""
    return psycopg.connect(
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        dbname="postgres",
        connect_timeout=5,
        autocommit=True,
    )


def _postgres_url(settings_dict: Mapping[str, Any], name: str) -> str:
    user = quote(str(settings_dict["USER"] or ""), safe="")
    password = settings_dict["PASSWORD"]
    credentials = f"{user}:{quote(str(password), safe='')}" if password else user
    host = quote(str(settings_dict["HOST"] or ""), safe="")
    port = f":{settings_dict['PORT']}" if settings_dict["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


@contextlib.contextmanager
def temporary_database(directory: Path, *, template: str | None = None) -> Iterator[str]:
    """Yield the ``DATABASE_URL`` of a database of the suite's kind, removed afterwards.

    PostgreSQL: a randomly named database on the suite's server, dropped WITH (FORCE) at the
    end. Anything else: a SQLite file in ``directory``. Empty, or with ``template`` (the URL
    of a database of the same kind nobody is connected to) a copy of that database.
    """
    if connection.vendor != "postgresql":
        url = sqlite_url(directory)
        if template is not None:
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template.removeprefix("sqlite:///"), url.removeprefix("sqlite:///"))
        yield url
        return
    settings_dict = dict(connection.settings_dict)
    name = f"todos_e2e_{secrets.token_hex(6)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = urlsplit(template).path.lstrip("/")
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(source))
    with postgres_admin(settings_dict) as admin:
        admin.execute(create)
    try:
        yield _postgres_url(settings_dict, name)
    finally:
        with postgres_admin(settings_dict) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _execute(database_url: str, statement: str, export_id: str) -> list[tuple[Any, ...]]:
    """Run one statement with the export's id on the server's database (SQLite stores UUIDs
    as 32 hex digits, PostgreSQL as ``uuid``)."""
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            rows = db.execute(statement.replace("%s", "?"), [export_id.replace("-", "")])
            result = rows.fetchall()
            db.commit()
            return result
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as db:
        cursor = db.execute(statement, [export_id])
        return cursor.fetchall() if cursor.description else []


def expire_now(database_url: str, export_id: str) -> None:
    """Move an export's expiry into the past in a server's database."""
    _execute(
        database_url,
        "UPDATE exports_export SET expires_at = '2000-01-01 00:00:00' WHERE id = %s",
        export_id,
    )


def count_exports(database_url: str, export_id: str) -> int:
    """How many rows a server's database has for the export (0 or 1)."""
    rows = _execute(database_url, "SELECT COUNT(*) FROM exports_export WHERE id = %s", export_id)
    return int(rows[0][0])
