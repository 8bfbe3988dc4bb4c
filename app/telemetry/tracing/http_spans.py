"""The HTTP server span of each request, on the OpenTelemetry API, by the stable conventions.

One ``SERVER`` span per request, named ``{method} {route}`` (``GET /api/todos/{id}/``), or the
method alone when no URL pattern matched. Its attributes follow the stable HTTP semantic
conventions (``http.request.method``, ``url.path``, ``http.route``,
``http.response.status_code``, ``server.address``, ``error.type``...). An incoming W3C
``traceparent``/``tracestate`` is continued through the global propagator; an invalid one
starts a new trace and the request is answered as usual.

Built for cost: attributes are computed only when the span is recording (sampled), so an
unsampled request pays for id generation, the ratio check and one attach: a request with no
trace headers skips the extract, and its root span skips the SDK's ``start_span``
(``span_starts``).
The instrumentation packages' settings keep working: ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS`` (or
``OTEL_PYTHON_EXCLUDED_URLS``) matched against the path, and the captured-header variables
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`` / ``..._RESPONSE`` /
``..._SANITIZE_FIELDS``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from opentelemetry import context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE,
    get_custom_header_attributes,
    parse_excluded_urls,
)

from app.envconfig import ENV
from app.telemetry.routes import matched_route
from app.telemetry.tracing.attributes import set_trusted
from app.telemetry.tracing.current import current_span
from app.telemetry.tracing.provider import INSTRUMENTATION_NAME, qualified_name, traces
from app.telemetry.tracing.span_starts import NO_PARENT, SpanStarts

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
DEFAULT_PORTS = {"http": 80, "https": 443}
REQUEST_ID_ATTRIBUTE = "http.request.header.x-request-id"  # string[] by the spec
USER_ID_ATTRIBUTE = "user.id"
# Query keys whose values the spec says to redact in url.query by default.
_SENSITIVE_QUERY_KEYS = ("AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature")


def _header_name(header: str) -> str:
    return f"http.request.header.{header.lower()}"


def _response_header_name(header: str) -> str:
    return f"http.response.header.{header.lower()}"


def split_host(host: str) -> tuple[str, int | None]:
    """``("example.com", 8000)`` from a Host header; IPv6 literals lose their brackets."""
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        address, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return address.lower(), int(port) if port.isdigit() else None


def redact_query(query: str) -> str:
    """``url.query`` with the values of signature-like keys replaced by ``REDACTED``."""
    if not any(key in query for key in _SENSITIVE_QUERY_KEYS):
        return query
    parts = []
    for pair in query.split("&"):
        key, sep, _ = pair.partition("=")
        parts.append(f"{key}{sep}REDACTED" if sep and key in _SENSITIVE_QUERY_KEYS else pair)
    return "&".join(parts)


def request_attributes(request: HttpRequest) -> dict[str, Any]:
    """The stable HTTP server attributes known before the view runs."""
    meta = request.META
    method = request.method or ""
    scheme = request.scheme or "http"
    attributes: dict[str, Any] = {
        http_attributes.HTTP_REQUEST_METHOD: method if method in KNOWN_METHODS else "_OTHER",
        url_attributes.URL_PATH: request.path,
        url_attributes.URL_SCHEME: scheme,
    }
    if method not in KNOWN_METHODS:
        attributes[http_attributes.HTTP_REQUEST_METHOD_ORIGINAL] = method
    query = meta.get("QUERY_STRING")
    if query:
        attributes[url_attributes.URL_QUERY] = redact_query(query)
    host = meta.get("HTTP_HOST") or meta.get("SERVER_NAME")
    if host:
        address, port = split_host(host)
        attributes[server_attributes.SERVER_ADDRESS] = address
        attributes[server_attributes.SERVER_PORT] = port or DEFAULT_PORTS.get(scheme, 80)
    protocol = meta.get("SERVER_PROTOCOL", "")
    if protocol.startswith("HTTP/"):
        attributes[network_attributes.NETWORK_PROTOCOL_VERSION] = protocol[5:]
    agent = meta.get("HTTP_USER_AGENT")
    if agent:
        attributes[user_agent_attributes.USER_AGENT_ORIGINAL] = agent
    client = meta.get("REMOTE_ADDR")
    if client:
        attributes[client_attributes.CLIENT_ADDRESS] = client
    return attributes


_W3C_PROPAGATORS = (TraceContextTextMapPropagator, W3CBaggagePropagator)


def w3c_propagation_keys(textmap: TextMapPropagator) -> frozenset[str] | None:
    """``HTTP_TRACEPARENT``, ``HTTP_TRACESTATE``, ``HTTP_BAGGAGE`` (those ``textmap`` reads) when
    it is made of the W3C trace-context and baggage propagators only, else ``None``."""
    members = getattr(textmap, "_propagators", [textmap])  # a composite keeps them here
    if not all(type(member) in _W3C_PROPAGATORS for member in members):
        return None
    return frozenset("HTTP_" + field.upper().replace("-", "_") for field in textmap.fields)


def span_name(method: str, route: str | None) -> str:
    """``{method} {route}``; the method alone without a route; ``HTTP`` for unknown methods."""
    shown = method if method in KNOWN_METHODS else "HTTP"
    return f"{shown} {route}" if route else shown


def _mark_failed(span: Any, error: BaseException) -> None:
    """``error.type`` (the exception's class) and an ``exception`` event on a recording span."""
    if span.is_recording():
        span.set_attribute(error_attributes.ERROR_TYPE, qualified_name(error))
        span.record_exception(error)


def record_error(error: BaseException) -> None:
    """Mark the active span failed by ``error`` (an unhandled exception, a dependency outage)."""
    _mark_failed(current_span(), error)


def _on_unhandled_exception(sender: Any, **_: Any) -> None:
    """Django's ``got_request_exception``, sent while the server span is still the active one:
    the exception is the one being handled now."""
    error = sys.exc_info()[1]
    if error is not None:
        record_error(error)


class ServerSpanMiddleware:
    """Starts, activates and ends the server span around everything inside it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not traces("django"):
            raise MiddlewareNotUsed("tracing is off")
        self.get_response = get_response
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME)
        # The instrumentation packages' standard variables, read once when the worker starts.
        self.excluded = parse_excluded_urls(
            ENV.first("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS") or ""
        )
        self.request_headers = ENV.strings(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST, []
        )
        self.response_headers = ENV.strings(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE, []
        )
        self.sensitive_headers = ENV.strings(
            OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, []
        )
        got_request_exception.connect(_on_unhandled_exception, dispatch_uid=__name__)
        self.starts = SpanStarts(self.tracer)
        self._textmap: TextMapPropagator | None = None
        self._keys: frozenset[str] | None = None

    def _propagation_keys(self) -> frozenset[str] | None:
        """The environ keys the global propagator reads (``HTTP_TRACEPARENT``...), when it is
        made of the W3C ones only (the default): without any of those keys, extracting gives
        an empty context, so it is skipped. ``None`` (always extract) for other propagators,
        which may read headers beyond their ``fields`` (B3's single header, Jaeger's baggage)."""
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:  # set up again (tests, a configurator)
            self._keys = w3c_propagation_keys(textmap)
            self._textmap = textmap
        return self._keys

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.excluded.url_disabled(request.path):
            return self.get_response(request)
        name = span_name(request.method or "", None)
        meta = request.META
        keys = self._propagation_keys()
        if keys is not None and meta.keys().isdisjoint(keys):  # a new trace (most requests)
            parent = NO_PARENT
            span = self.starts.root(name, SpanKind.SERVER)
        else:
            parent = propagate.extract(meta, getter=_META_GETTER)
            span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        recording = span.is_recording()
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            response = self.get_response(request)
        except BaseException as error:  # only what Django itself did not turn into a response
            if recording:
                span.set_attributes(request_attributes(request))
                _mark_failed(span, error)
                span.set_status(Status(StatusCode.ERROR))
            raise
        else:
            if recording:
                self._finish(span, request, response)
            return response
        finally:
            context.detach(token)
            span.end()

    def _finish(self, span: Any, request: HttpRequest, response: HttpResponse) -> None:
        """Name by route, status code, error type on 5xx, user and request id."""
        status = response.status_code
        route = matched_route(request)
        # All attributes in one call (one lock, one validation pass): nothing samples on them.
        attributes = request_attributes(request)
        attributes[http_attributes.HTTP_RESPONSE_STATUS_CODE] = status
        if self.request_headers:
            attributes.update(self._captured(request.headers, request=True))
        if route:
            attributes[http_attributes.HTTP_ROUTE] = route
            # a view may name its span better (GraphQL: by operation, ``query TodoList``)
            span.update_name(
                getattr(request, "span_name", None) or span_name(request.method or "", route)
            )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
            if error_attributes.ERROR_TYPE not in (getattr(span, "attributes", None) or {}):
                attributes[error_attributes.ERROR_TYPE] = str(status)
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            attributes[USER_ID_ATTRIBUTE] = str(user.pk)
        request_id = getattr(request, "request_id", None)
        if request_id:
            attributes[REQUEST_ID_ATTRIBUTE] = (request_id,)
        if self.response_headers:
            attributes.update(self._captured(response.headers, request=False))
        set_trusted(span, attributes)

    def _captured(self, headers: Mapping[str, str], *, request: bool) -> dict[str, tuple[str, ...]]:
        """``http.{request,response}.header.<name>`` for the configured headers (string[]
        values as tuples, the immutable form the SDK stores)."""
        captured = get_custom_header_attributes(
            headers,
            self.request_headers if request else self.response_headers,
            self.sensitive_headers,
            _header_name if request else _response_header_name,
        )
        return {name: tuple(values) for name, values in captured.items()}


class _MetaGetter(Getter[dict[str, Any]]):
    """Reads propagation headers (``traceparent``...) out of a WSGI environ."""

    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_META_GETTER = _MetaGetter()
