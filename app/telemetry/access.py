"""Per-request telemetry: a request id, log context, and exactly one access event.

Sits just inside the OpenTelemetry middleware, so the server span is active while the access
event is written and the line carries the span's ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase, ResponseHeaders

from app.telemetry.logging import EventWriter
from app.telemetry.routes import route_template

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Request ids come from a generator of their own: seeded from os.urandom when made and again
# in every forked child (gunicorn's workers), with no system call per request (os.urandom
# makes one), and not drawing from ``random``, whose bits the SDK's trace ids are.
_request_ids = random.Random()  # noqa: S311  # nosec B311  # an identifier, not a secret
os.register_at_fork(after_in_child=_request_ids.seed)
# RFC 9562: version 4 in bits 76-79, variant 10 in bits 62-63 (what uuid.UUID(version=4) sets)
_VERSION_VARIANT_BITS = (0xF000 << 64) | (0xC000 << 48)
_VERSION_4_VARIANT_10 = (0x4000 << 64) | (0x8000 << 48)
_RANDOM_BITS = ~_VERSION_VARIANT_BITS & ((1 << 128) - 1)  # what stays of the 128 drawn

access_log = structlog.get_logger("app.access")
_NO_FIELDS: dict[str, object] = {}


def _structlog_variable(key: str) -> ContextVar[Any]:
    """The context variable ``structlog.contextvars.bind_contextvars(key=...)`` sets (the one
    ``merge_contextvars`` and ``get_contextvars`` read), found through the token it returns."""
    token = structlog.contextvars.bind_contextvars(**{key: None})[key]
    token.var.reset(token)
    return token.var


# Set and reset directly for every request: bind_contextvars and clear_contextvars (which walks
# every variable of the context) cost 15.3k instructions a request, this 4.3k (callgrind loop).
_REQUEST_ID = _structlog_variable("request_id")


def new_request_id() -> str:
    """A random UUID (version 4) as 32 hex digits, what ``uuid.uuid4().hex`` gives, without
    building a ``UUID`` object or a system call (it is made for every request)."""
    bits = _request_ids.getrandbits(128) & _RANDOM_BITS | _VERSION_4_VARIANT_10
    return "%032x" % bits  # noqa: UP031  # printf-style: a third cheaper than an f-string


def request_id_from(request: HttpRequest) -> str:
    """The caller's ``X-Request-ID`` when it is short and plain, else a new UUID."""
    # META, not request.headers: building that mapping costs ~13 µs and nothing else needs it
    candidate = request.META.get("HTTP_X_REQUEST_ID")
    if candidate and _SANE_REQUEST_ID.fullmatch(str(candidate)):
        return str(candidate)
    return new_request_id()


_HEADER_KEY = REQUEST_ID_HEADER.lower()


def echo_request_id(response: HttpResponseBase, request_id: str) -> None:
    """Set ``X-Request-ID: request_id`` on ``response``, as ``response[...] = ...`` does.

    Django checks and encodes the name and the value of every header it is given (6.8k
    instructions, callgrind, a loop); a request id is plain ASCII by construction (generated,
    or matched by ``_SANE_REQUEST_ID``), so it goes straight into the header store, kept as
    Django keeps it (lower-cased name to (name, value)), when the headers are Django's own.
    """
    headers = getattr(response, "headers", None)
    store = getattr(headers, "_store", None)
    if type(headers) is ResponseHeaders and type(store) is dict:
        store[_HEADER_KEY] = (REQUEST_ID_HEADER, request_id)
    else:
        response[REQUEST_ID_HEADER] = request_id


def _user_id(request: HttpRequest) -> int | str | None:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    user_id: int | str | None = user.pk
    return user_id


class RequestTelemetryMiddleware:
    """Bind ``request_id`` for every log line of the request, echo it, log one access event."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # The configured logger itself, not the lazy proxy that resolves it on every call.
        self.log = EventWriter(access_log.bind())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        # Unbound as every request ends (finally), so each one starts with none. Sentry tags its
        # events with it when it sends one (app.telemetry.errors.tag_request_id). What other
        # code binds in a request is its to unbind (``structlog.contextvars.bound_contextvars``).
        bound = _REQUEST_ID.set(request_id)
        try:
            response = self.get_response(request)
            echo_request_id(response, request_id)
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            self.log.write(
                logging.ERROR if response.status_code >= 500 else logging.INFO,
                "request_finished",
                {
                    "method": request.method,
                    "route": route_template(request),
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": _user_id(request),
                    # hit/miss/bypass/304 on the cached reads (app.todos.response_cache)
                    "cache": getattr(request, "response_cache", None),
                    # a view's own fields (GraphQL: graphql_operation, graphql_errors)
                    **getattr(request, "access_fields", _NO_FIELDS),
                },
            )
            return response
        finally:
            _REQUEST_ID.reset(bound)
