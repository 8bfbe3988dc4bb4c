"""The request metrics middlewares: django-prometheus' families plus requests in flight.

django-prometheus keeps its metric names and labels (the community dashboards and alerts
work unchanged); its request-latency histograms carry the active trace as an exemplar
(``histograms``). Both middlewares resolve their labelled series once per label set and
write a request's series together, under one lock (``values.add_together``): the inner one
writes its twelve or so once the response is known, the outer one two on the way in and four
on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from timeit import default_timer
from typing import Any

from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from prometheus_client import Gauge

# Imported with the middlewares when a worker starts, so their series are exported (at 0)
# before the first error or cache call: the alerts' rates and the panels exist from the start.
from app.api.metrics import dependency_errors  # noqa: F401
from app.cache.metrics import export_cache_counters
from app.telemetry.prometheus.histograms import ExemplarMetrics, current_trace_exemplar
from app.telemetry.prometheus.updates import HistogramValues, adder, value_of
from app.telemetry.prometheus.values import Addition, add_together

requests_in_flight = Gauge(
    "todos_http_requests_in_flight",
    "HTTP requests being served right now (probes excluded), summed over live workers.",
    multiprocess_mode="livesum",
)


class LabelledChildren(dict[Any, Any]):
    """What a metric's series is updated through (an update function, its value object), per
    label set, resolved once: ``children["GET"]`` for one label, ``children["200",
    "todo-list", "GET"]`` for several.

    prometheus_client's ``labels()`` validates and looks the child up on every call; a request
    updates about ten labelled series, so the lookups cost more than the updates. A dict
    looked up by subscript (its ``__missing__`` resolves a new label set) cost 0.13 µs against
    0.26 µs for the object with a ``__call__(*values)`` it replaced (timeit, a toy of each).
    ``update(child)`` makes what is kept for a child (``adder``, ``value_of``...).
    """

    def __init__(self, metric: Any, update: Callable[[Any], Any]) -> None:
        super().__init__()
        self._metric = metric
        self._update = update

    def __missing__(self, key: str | tuple[str, ...]) -> Any:
        values = key if isinstance(key, tuple) else (key,)
        found = self[key] = self._update(self._metric.labels(*values))
        return found


class _Latency:
    """One latency series with exemplars: its value objects and the series that keeps them."""

    __slots__ = ("keep_exemplar", "values")

    def __init__(self, child: Any) -> None:
        self.values = HistogramValues(child)
        self.keep_exemplar: Callable[[int, float, dict[str, str] | None], None] = (
            child.keep_exemplar
        )


_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}
)
UNNAMED_VIEW = "<unnamed view>"
_NO_TEMPLATE = object()


def method_label(request: HttpRequest) -> str:
    """django-prometheus' ``method`` label: the method, or ``<invalid method>``."""
    method = request.method or ""
    return method if method in _METHODS else "<invalid method>"


def view_label(request: HttpRequest) -> str:
    """django-prometheus' ``view`` label: the URL name, or ``<unnamed view>``."""
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else None) or UNNAMED_VIEW


_UNSET: Any = object()
# Content-Type -> what ``response.charset`` gives for a response of that type setting no
# charset of its own (the server's types: a small set; bounded all the same).
_CHARSETS: dict[str | None, str | None] = {}
_CHARSETS_LIMIT = 256


def charset_label(response: HttpResponse) -> str | None:
    """django-prometheus' ``charset`` label: ``response.charset``, remembered per Content-Type.

    The property looks the header up and searches it with a case-insensitive regex for every
    response (21.5k instructions, callgrind); a response's own charset (``charset=``) is
    returned as the property returns it, first.
    """
    explicit = getattr(response, "_charset", None)  # HttpResponseBase's, set by charset=
    if explicit is not None:
        return str(explicit)
    headers = getattr(response, "headers", None)
    if headers is None:  # not a Django response
        return getattr(response, "charset", None)
    content_type = headers.get("Content-Type")
    charset: str | None = _CHARSETS.get(content_type, _UNSET)
    if charset is _UNSET:
        charset = getattr(response, "charset", None)
        if len(_CHARSETS) < _CHARSETS_LIMIT:
            _CHARSETS[content_type] = charset
    return charset


def _forget_charsets(*, setting: str, **_: Any) -> None:
    """A changed ``DEFAULT_CHARSET`` (tests) changes what a type without charset gives."""
    if setting == "DEFAULT_CHARSET":
        _CHARSETS.clear()


setting_changed.connect(_forget_charsets, dispatch_uid=__name__)
# Set on the request by the inner middleware, read by the outer one: one lookup per request.
_EXEMPLAR_ATTRIBUTE = "_metrics_trace_exemplar"


def _trace_exemplar(request: HttpRequest) -> dict[str, str] | None:
    """The active trace as an exemplar, looked up once per request."""
    exemplar: dict[str, str] | None = getattr(request, _EXEMPLAR_ATTRIBUTE, _UNSET)
    if exemplar is _UNSET:
        exemplar = current_trace_exemplar()
        setattr(request, _EXEMPLAR_ATTRIBUTE, exemplar)
    return exemplar


class RequestMetricsMiddleware:
    """The outermost metrics: requests received, in flight, and latency including middlewares.

    Records django-prometheus' "before middlewares" families (same names and labels) and
    ``todos_http_requests_in_flight``, in one new-style middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        metrics = ExemplarMetrics.get_instance()
        in_flight = value_of(requests_in_flight)
        self.arriving = ((value_of(metrics.requests_total), 1), (in_flight, 1))
        self.leaving = ((in_flight, -1), (value_of(metrics.responses_total), 1))
        self.add_in_flight = adder(requests_in_flight)
        self.latency = _Latency(metrics.requests_latency_before)
        export_cache_counters()  # once per worker, when Django loads its middlewares

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = default_timer()
        add_together(self.arriving)
        try:
            response = self.get_response(request)
        except BaseException:
            self.add_in_flight(-1)
            raise
        elapsed = default_timer() - started
        latency = self.latency.values
        index = latency.bucket(elapsed)
        add_together((*self.leaving, (latency.total, elapsed), (latency.buckets[index], 1)))
        self.latency.keep_exemplar(index, elapsed, _trace_exemplar(request))
        return response


# What a response adds 1 to, by (method, transport, view, routed, status, charset, template).
_ResponseKey = tuple[str, str, str, bool, int, Any, str | None]


class ViewMetricsMiddleware:
    """The innermost metrics: django-prometheus' per-request families, with cached children.

    Same names, labels and meanings as ``PrometheusAfterMiddleware`` (method, transport, view,
    status, template name, body sizes, latency by view with exemplars, exceptions by type and
    view), so the community django-mixin dashboards and alerts read them unchanged. The counts
    django-prometheus makes before the view (method, transport, request size) are written with
    the others once the view has answered (or raised).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        m = ExemplarMetrics.get_instance()
        self.metrics = m
        # per response key: the counters it adds 1 to
        self.counted: dict[_ResponseKey, tuple[Addition, ...]] = {}
        self.latency_by_view_method = LabelledChildren(m.requests_latency_by_view_method, _Latency)
        self.exceptions_by_type = LabelledChildren(m.exceptions_by_type, adder)
        self.exceptions_by_view = LabelledChildren(m.exceptions_by_view, adder)
        self.before_view = (
            LabelledChildren(m.requests_by_method, value_of),
            LabelledChildren(m.requests_by_transport, value_of),
        )
        self.count_ajax = adder(m.requests_ajax)
        self.count_streaming = adder(m.responses_streaming)
        self.request_bytes = HistogramValues(m.requests_body_bytes)
        self.response_bytes = HistogramValues(m.responses_body_bytes)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        method = method_label(request)
        transport = "https" if request.is_secure() else "http"
        meta = request.META  # not request.headers: building that mapping costs ~13 µs
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            self.count_ajax(1)
        request_bytes = int(meta.get("CONTENT_LENGTH") or 0)
        sizes = self.request_bytes
        started = default_timer()
        try:
            response = self.get_response(request)
        except BaseException:
            by_method, by_transport = self.before_view
            add_together(
                (
                    (by_method[method], 1),
                    (by_transport[transport], 1),
                    *sizes.observation(request_bytes),
                )
            )
            raise
        routed = getattr(request, "resolver_match", None) is not None
        view = view_label(request)
        status = response.status_code
        charset = charset_label(response)
        template = getattr(response, "template_name", _NO_TEMPLATE)
        # django-prometheus counts these in a process_template_response hook; counted here
        # instead, Django calls no hook per response (DRF's responses are "None")
        templated = template is not _NO_TEMPLATE and callable(getattr(response, "render", None))
        template_label = str(template) if templated else None
        key = (method, transport, view, routed, status, charset, template_label)
        counters = self.counted.get(key)
        if counters is None:
            counters = self.counted[key] = self._counters(key)
        if response.streaming:
            self.count_streaming(1)
            sent: tuple[Addition, ...] = ()
        else:
            sent = self.response_bytes.observation(len(response.content))
        elapsed = default_timer() - started
        latency = self.latency_by_view_method[view, request.method or ""]
        index = latency.values.bucket(elapsed)
        add_together(
            (
                *counters,
                *sizes.observation(request_bytes),
                *sent,
                (latency.values.total, elapsed),
                (latency.values.buckets[index], 1),
            )
        )
        latency.keep_exemplar(index, elapsed, _trace_exemplar(request))
        return response

    def _counters(self, key: _ResponseKey) -> tuple[Addition, ...]:
        """The counters a response of ``key`` adds 1 to, as value objects (resolved once)."""
        method, transport, view, routed, status, charset, template = key
        m = self.metrics
        labelled = [
            (m.requests_by_method, (method,)),
            (m.requests_by_transport, (transport,)),
            (m.responses_by_status, (str(status),)),
            (m.responses_by_status_view_method, (str(status), view, method)),
        ]
        if routed:
            labelled.append((m.requests_by_view_transport_method, (view, transport, method)))
        if charset is not None:
            labelled.append((m.responses_by_charset, (str(charset),)))
        if template is not None:
            labelled.append((m.responses_by_templatename, (template,)))
        return tuple((value_of(metric.labels(*labels)), 1) for metric, labels in labelled)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count a view's unhandled exception by type and by view."""
        self.exceptions_by_type[type(exception).__name__](1)
        if getattr(request, "resolver_match", None) is not None:
            self.exceptions_by_view[view_label(request)](1)
