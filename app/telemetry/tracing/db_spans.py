"""A client span per SQL query, by the stable database semantic conventions.

Installed as a Django execute wrapper on each instrumented connection (``app.dbbackends``), so
PostgreSQL and SQLite are traced the same way, below the ORM and above the driver. A query
makes a span only inside a recording (sampled) span: unsampled requests, probes and
background threads pay one ``is_recording()`` check per query.

Attributes: ``db.system.name`` (``postgresql``/``sqlite``), ``db.namespace`` (the database
name as configured when the connection was made; for SQLite the file), ``db.query.text``
(Django's parameterised SQL: placeholders, never values), ``db.operation.name`` and
``db.query.summary`` (``SELECT todos_todo``, parsed from the query once per connection),
``server.address`` and ``server.port`` for PostgreSQL (the port only when not 5432),
``db.operation.batch.size`` for ``executemany`` of two or more rows; on failure ``error.type``
(the SQLSTATE when the driver gives one, else the exception's class) and
``db.response.status_code``. The span is named by the summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Any

from opentelemetry import trace
from opentelemetry.semconv.attributes import db_attributes, error_attributes, server_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.telemetry.tracing.attributes import set_trusted
from app.telemetry.tracing.current import recording_span
from app.telemetry.tracing.provider import INSTRUMENTATION_NAME, qualified_name, traces
from app.telemetry.tracing.span_starts import SpanStarts

SYSTEM_NAMES = {"postgresql": "postgresql", "sqlite": "sqlite"}
DEFAULT_PORTS = {"postgresql": 5432}
SUMMARY_LIMIT = 255
STATEMENTS_LIMIT = 1024  # statements remembered per connection (emptied when full)

# The first keyword of a statement, and every table an operation reads or writes.
_OPERATION = re.compile(r"^\s*(?:\(\s*)*(\w+)")
_TARGET = re.compile(
    r"\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+((?:\"[^\"]+\"|`[^`]+`|[\w.]+)(?:\.(?:\"[^\"]+\"|\w+))?)",
    re.IGNORECASE,
)

Executor = Callable[[str, Any, bool, dict[str, Any]], Any]


def summarize(sql: str) -> tuple[str, str]:
    """``(operation, summary)`` of a query: ``("SELECT", "SELECT todos_todo auth_user")``.

    The summary keeps the operation and the tables in the order they appear (the spec's
    ``{operation} {target} ...``), without quotes, at most 255 characters, never a value.
    """
    match = _OPERATION.match(sql)
    operation = match[1].upper() if match else "SQL"
    if operation in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "SHOW"}:
        return operation, operation
    parts = [operation]
    for found in _TARGET.finditer(sql):
        target = found[2].replace('"', "").replace("`", "")
        if target not in parts[1:]:
            parts.append(target)
    summary = parts[0]
    for part in parts[1:]:
        if len(summary) + 1 + len(part) > SUMMARY_LIMIT:
            break
        summary = f"{summary} {part}"
    return operation, summary


def connection_attributes(vendor: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The attributes every span of one connection shares."""
    attributes: dict[str, Any] = {db_attributes.DB_SYSTEM_NAME: SYSTEM_NAMES.get(vendor, vendor)}
    name = settings.get("NAME")
    if name:
        attributes[db_attributes.DB_NAMESPACE] = str(name)
    host = settings.get("HOST")
    if host and vendor in DEFAULT_PORTS:
        attributes[server_attributes.SERVER_ADDRESS] = str(host)
        port = int(settings.get("PORT") or DEFAULT_PORTS[vendor])
        if port != DEFAULT_PORTS[vendor]:
            attributes[server_attributes.SERVER_PORT] = port
    return attributes


def _status_code(error: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's ``sqlstate``), if the driver gives one."""
    cause = error.__cause__ or error
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return str(code) if code else None


class QuerySpans:
    """A Django execute wrapper making one client span per query of one connection."""

    def __init__(
        self, vendor: str, settings: dict[str, Any], tracer: trace.Tracer | None = None
    ) -> None:
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
        self.starts = SpanStarts(self.tracer)
        self.attributes = connection_attributes(vendor, settings)
        # per statement (parameterised SQL: one per query in the code): its span's name and
        # attributes, made once and copied into each span (never changed after)
        self._statements: dict[str, tuple[str, dict[str, Any]]] = {}

    def statement(self, sql: str) -> tuple[str, dict[str, Any]]:
        """The span name (``db.query.summary``) and attributes of a query running ``sql``."""
        found = self._statements.get(sql)
        if found is None:
            operation, summary = summarize(sql)
            attributes = {
                **self.attributes,
                db_attributes.DB_QUERY_TEXT: sql,
                db_attributes.DB_OPERATION_NAME: operation,
                db_attributes.DB_QUERY_SUMMARY: summary,
            }
            if len(self._statements) >= STATEMENTS_LIMIT:
                self._statements.clear()
            found = self._statements[sql] = (summary, attributes)
        return found

    def __call__(
        self, execute: Executor, sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        parent = recording_span()
        if parent is None:
            return execute(sql, params, many, context)
        summary, attributes = self.statement(sql)
        if many and isinstance(params, Sized) and len(params) > 1:
            attributes = {**attributes, db_attributes.DB_OPERATION_BATCH_SIZE: len(params)}
        # Children of a sampled span, sampled by the parent: the sampler needs no attributes.
        span = self.starts.child(summary, SpanKind.CLIENT, parent)
        set_trusted(span, attributes)
        try:
            return execute(sql, params, many, context)
        except BaseException as error:
            code = _status_code(error)
            if code:
                span.set_attribute(db_attributes.DB_RESPONSE_STATUS_CODE, code)
            span.set_attribute(error_attributes.ERROR_TYPE, code or qualified_name(error))
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()


def install(connection: Any) -> None:
    """Trace every query ``connection`` (a Django ``DatabaseWrapper``) runs, unless disabled.

    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` naming ``psycopg`` or ``sqlite3`` turns the query
    spans of that database off, as with the instrumentation packages.
    """
    driver = {"postgresql": "psycopg", "sqlite": "sqlite3"}.get(connection.vendor, "")
    if not traces(driver):
        return
    connection.execute_wrappers.append(QuerySpans(connection.vendor, connection.settings_dict))
