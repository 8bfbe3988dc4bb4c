"""Per-operation telemetry of a GraphQL request: span name and attributes, metrics, access log.

Every request is ``POST /graphql/``, so the HTTP signals alone lump all operations together
and see a 200 even when a resolver failed. Here each request gets, once it is answered:

- the server span renamed by operation (``query TodoList``, ``mutation CreateTodo``; ``query``
  or ``mutation`` for an unnamed one) through ``request.span_name``, which the server span
  middleware honours, with the semantic conventions' ``graphql.operation.type``,
  ``graphql.operation.name`` and ``graphql.document`` (literal values replaced by ``?``), and
  status ERROR with ``error.type`` when an error was the server's fault; no resolver spans
  (the DB spans stay children of the server span);
- the ``todos_graphql_*`` metrics (``app.graphql.metrics``);
- ``graphql_operation`` and ``graphql_errors`` (count and codes) on the access line, through
  ``request.access_fields``;
- for a server error, a log line with the exception and a Sentry event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import sentry_sdk
from django.http import HttpRequest
from graphql import (
    DocumentNode,
    EnumValueNode,
    OperationType,
    Visitor,
    get_operation_ast,
    print_ast,
    visit,
)
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

from app.api.exceptions import DATABASE_ERRORS
from app.api.metrics import dependency_errors
from app.graphql import metrics
from app.graphql.context import GraphQLContext, OperationRecord
from app.graphql.errors import SERVER_CODES, SERVICE_UNAVAILABLE
from app.graphql.operations import KNOWN_OPERATIONS, OTHER, UNKNOWN, operation_label
from app.telemetry.tracing.http_spans import record_error

logger = logging.getLogger(__name__)

OPERATION_TYPE = "graphql.operation.type"
OPERATION_NAME = "graphql.operation.name"
DOCUMENT = "graphql.document"
_TYPES = {OperationType.QUERY: "query", OperationType.MUTATION: "mutation"}


class OperationObserver(SchemaExtension):
    """Notes in the request's ``OperationRecord`` which operation runs and how far it got;
    refuses a document whose operation cannot be chosen (Strawberry would run the first)."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        record = _record(context.context)
        if document is None or record is None:
            return
        record.document = document
        record.stage = "validate"
        # the operationName sent (Strawberry's own falls back to the first operation's)
        operation = get_operation_ast(document, record.requested_name)
        if operation is None:  # an unknown operationName, or several operations and none
            raise CannotGetOperationTypeError(record.requested_name)
        record.operation_type = _TYPES.get(operation.operation, UNKNOWN)
        record.operation_name = operation.name.value if operation.name else None

    def on_validate(self) -> Iterator[None]:
        yield
        record = _record(self.execution_context.context)
        if record is not None and not self.execution_context.pre_execution_errors:
            record.stage = "execute"


def _record(context: Any) -> OperationRecord | None:
    return context.record if isinstance(context, GraphQLContext) else None


def outcome(codes: list[str]) -> str:
    """``success``, ``client_error`` or ``server_error`` (any code that burns the budget)."""
    if not codes:
        return "success"
    return "server_error" if SERVER_CODES.intersection(codes) else "client_error"


def span_name(record: OperationRecord) -> str | None:
    """``{type} {name}``, the type alone for an unnamed operation; None when unknown."""
    if record.operation_type == UNKNOWN:
        return None
    if record.operation_name:
        return f"{record.operation_type} {record.operation_name}"
    return record.operation_type


class _LiteralsHidden(Visitor):
    """Replaces every literal value (strings, numbers, booleans, enums) by ``?``."""

    def _hidden(self, *_: Any) -> EnumValueNode:
        return EnumValueNode(value="?")

    enter_string_value = _hidden
    enter_int_value = _hidden
    enter_float_value = _hidden
    enter_boolean_value = _hidden
    enter_enum_value = _hidden


def sanitized_document(document: DocumentNode) -> str:
    """The document as ``graphql.document`` shows it: literal values replaced by ``?``."""
    return str(print_ast(visit(document, _LiteralsHidden())))


def observe(request: HttpRequest, record: OperationRecord, seconds: float) -> None:
    """Span, metrics and access-log fields of one answered GraphQL request."""
    name = span_name(record)
    if name is not None:
        request.span_name = name  # type: ignore[attr-defined]  # read by the server span
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(_span_attributes(record))
        if SERVER_CODES.intersection(record.codes):
            span.set_status(Status(StatusCode.ERROR))
    label = operation_label(record.operation_name) if record.operation_type != UNKNOWN else UNKNOWN
    if label in KNOWN_OPERATIONS and KNOWN_OPERATIONS[label] != record.operation_type:
        label = OTHER  # a known name on the other operation type: not that operation
    metrics.record(
        operation_type=record.operation_type,
        operation_name=label,
        outcome=outcome(record.codes),
        codes=record.codes,
        seconds=seconds,
    )
    request.access_fields = {  # type: ignore[attr-defined]  # merged into the access line
        "graphql_operation": name,
        "graphql_errors": {"count": len(record.codes), "codes": sorted(set(record.codes))},
    }


def _span_attributes(record: OperationRecord) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if record.operation_type != UNKNOWN:
        attributes[OPERATION_TYPE] = record.operation_type
    if record.operation_name:
        attributes[OPERATION_NAME] = record.operation_name
    if isinstance(record.document, DocumentNode):
        attributes[DOCUMENT] = sanitized_document(record.document)
    return attributes


def report_server_error(code: str, error: BaseException) -> None:
    """A resolver failed by the server's fault: on the span, in the log, to Sentry; an outage
    is counted like the REST API's (``todos_dependency_errors_total``)."""
    record_error(error)
    if code == SERVICE_UNAVAILABLE:
        dependency_errors.labels(
            "database" if isinstance(error, DATABASE_ERRORS) else "cache"
        ).inc()
        logger.error("graphql dependency unavailable: %r", error)
        return
    logger.error("graphql resolver failed", exc_info=(type(error), error, error.__traceback__))
    sentry_sdk.capture_exception(error)
