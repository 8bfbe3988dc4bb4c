"""DRF exception handling: every error is JSON, and services' Django errors become 400s."""

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from app.api.metrics import dependency_errors
from app.exports.queue import QueueUnavailableError
from app.telemetry.tracing.http_spans import record_error


class RequestEntityTooLarge(exceptions.APIException):
    """The request body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code = 413
    default_detail = "Request body too large."
    default_code = "request_too_large"


class DependencyUnavailable(exceptions.APIException):
    """The database, the cache or the job queue cannot be reached: retry later."""

    status_code = 503
    default_detail = "Service temporarily unavailable, retry later."
    default_code = "unavailable"


DATABASE_ERRORS = (OperationalError, InterfaceError)
CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)
QUEUE_ERRORS = (QueueUnavailableError,)
UNAVAILABLE_ERRORS = DATABASE_ERRORS + CACHE_ERRORS + QUEUE_ERRORS
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map Django errors to API errors, then let DRF render them.

    ``ValidationError`` from services becomes a 400 with field errors; a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` becomes a 413; an unreachable database, cache (refused,
    timed out, statement cancelled) or job broker becomes a 503 with ``Retry-After`` instead
    of a crash.
    """
    if isinstance(exc, UNAVAILABLE_ERRORS):
        dependency = _dependency(exc)
        dependency_errors.labels(dependency).inc()
        record_error(exc)  # the server span's error.type names the outage, not just "503"
        logger.error("dependency unavailable: %s: %r", dependency, exc)
        response = drf_exception_handler(DependencyUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, RequestDataTooBig):
        exc = RequestEntityTooLarge()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        # a bare list (``ValidationError("...")`` outside a serializer) is not the documented
        # 400 body, an object of field errors: file it under `non_field_errors`
        exc = exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.detail})
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        exc = exceptions.ValidationError(flatten_field_errors(exc.detail))
    return drf_exception_handler(exc, context)


def _dependency(exc: Exception) -> str:
    """The ``dependency`` label of an outage: database, cache or queue (the job broker)."""
    if isinstance(exc, DATABASE_ERRORS):
        return "database"
    return "queue" if isinstance(exc, QUEUE_ERRORS) else "cache"


def flatten_field_errors(detail: Mapping[Any, Any]) -> dict[str, Any]:
    """Field errors one level deep, as the schema documents them: ``{"<field>": [messages]}``.

    DRF nests the errors of list items and nested serializers (``{"routes": {"0": [...]}}``,
    ``{"items": [{}, {"title": [...]}]}``); those become dotted paths (``"routes.0"``,
    ``"items.1.title"``), each with its list of messages.
    """
    flat: dict[str, Any] = {}

    def visit(value: Any, path: str) -> None:
        nested = isinstance(value, Mapping) or (
            isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value)
        )
        if not nested:
            flat[path] = value
            return
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if item:  # a valid item of a many=True list is an empty dict
                visit(item, f"{path}.{key}")

    for field, value in detail.items():
        visit(value, str(field))
    return flat
