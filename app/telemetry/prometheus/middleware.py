"""The request metrics middlewares: django-prometheus' families plus requests in flight.

django-prometheus keeps its metric names and labels (the community dashboards and alerts
work unchanged); its request-latency histograms carry the active trace as an exemplar
(``histograms``). Both middlewares resolve their labelled series once per label set.
"""

from __future__ import annotations

from collections.abc import Callable
from timeit import default_timer
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import Gauge

# Imported with the middlewares when a worker starts, so their series are exported (at 0)
# before the first error or cache call: the alerts' rates and the panels exist from the start.
from app.api.metrics import dependency_errors  # noqa: F401
from app.cache.metrics import export_cache_counters
from app.telemetry.prometheus.histograms import ExemplarMetrics
from app.telemetry.prometheus.updates import adder, observer

requests_in_flight = Gauge(
    "todos_http_requests_in_flight",
    "HTTP requests being served right now (probes excluded), summed over live workers.",
    multiprocess_mode="livesum",
)


class LabelledChildren(dict[Any, Callable[[float], Any]]):
    """One metric's update function per label set, resolved once: ``children["GET"]`` for one
    label, ``children["200", "todo-list", "GET"]`` for several.

    prometheus_client's ``labels()`` validates and looks the child up on every call; a request
    updates about ten labelled series, so the lookups cost more than the updates. A dict
    looked up by subscript (its ``__missing__`` resolves a new label set) cost 0.13 µs against
    0.26 µs for the object with a ``__call__(*values)`` it replaced (timeit, a toy of each).
    ``update(child)`` makes the function kept for a child (``adder``, or the child's own
    ``observe`` for the exemplar histograms).
    """

    def __init__(self, metric: Any, update: Callable[[Any], Callable[[float], Any]]) -> None:
        super().__init__()
        self._metric = metric
        self._update = update

    def __missing__(self, key: str | tuple[str, ...]) -> Callable[[float], Any]:
        values = key if isinstance(key, tuple) else (key,)
        found = self[key] = self._update(self._metric.labels(*values))
        return found


def _observe(child: Any) -> Callable[[float], Any]:
    observe: Callable[[float], Any] = child.observe
    return observe


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


class RequestMetricsMiddleware:
    """The outermost metrics: requests received, in flight, and latency including middlewares.

    Records django-prometheus' "before middlewares" families (same names and labels) and
    ``todos_http_requests_in_flight``, in one new-style middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        metrics = ExemplarMetrics.get_instance()
        self.count_request = adder(metrics.requests_total)
        self.count_response = adder(metrics.responses_total)
        self.add_in_flight = adder(requests_in_flight)
        self.observe_latency = metrics.requests_latency_before.observe  # exemplars
        export_cache_counters()  # once per worker, when Django loads its middlewares

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = default_timer()
        self.count_request(1)
        self.add_in_flight(1)
        try:
            response = self.get_response(request)
        finally:
            self.add_in_flight(-1)
        self.count_response(1)
        self.observe_latency(default_timer() - started)
        return response


class ViewMetricsMiddleware:
    """The innermost metrics: django-prometheus' per-request families, with cached children.

    Same names, labels and meanings as ``PrometheusAfterMiddleware`` (method, transport, view,
    status, template name, body sizes, latency by view with exemplars, exceptions by type and
    view), so the community django-mixin dashboards and alerts read them unchanged.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        m = ExemplarMetrics.get_instance()
        self.by_method = LabelledChildren(m.requests_by_method, adder)
        self.by_transport = LabelledChildren(m.requests_by_transport, adder)
        self.by_view_transport_method = LabelledChildren(m.requests_by_view_transport_method, adder)
        self.by_templatename = LabelledChildren(m.responses_by_templatename, adder)
        self.by_status = LabelledChildren(m.responses_by_status, adder)
        self.by_status_view_method = LabelledChildren(m.responses_by_status_view_method, adder)
        self.by_charset = LabelledChildren(m.responses_by_charset, adder)
        self.latency_by_view_method = LabelledChildren(m.requests_latency_by_view_method, _observe)
        self.exceptions_by_type = LabelledChildren(m.exceptions_by_type, adder)
        self.exceptions_by_view = LabelledChildren(m.exceptions_by_view, adder)
        self.count_ajax = adder(m.requests_ajax)
        self.count_streaming = adder(m.responses_streaming)
        self.observe_request_bytes = observer(m.requests_body_bytes)
        self.observe_response_bytes = observer(m.responses_body_bytes)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        method = method_label(request)
        transport = "https" if request.is_secure() else "http"
        self.by_method[method](1)
        self.by_transport[transport](1)
        meta = request.META  # not request.headers: building that mapping costs ~13 µs
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            self.count_ajax(1)
        self.observe_request_bytes(int(meta.get("CONTENT_LENGTH") or 0))
        started = default_timer()
        response = self.get_response(request)
        view = view_label(request)
        if getattr(request, "resolver_match", None) is not None:
            self.by_view_transport_method[view, transport, method](1)
        status = str(response.status_code)
        self.by_status[status](1)
        self.by_status_view_method[status, view, method](1)
        charset = getattr(response, "charset", None)
        if charset is not None:
            self.by_charset[str(charset)](1)
        template = getattr(response, "template_name", _NO_TEMPLATE)
        if template is not _NO_TEMPLATE and callable(getattr(response, "render", None)):
            # django-prometheus counts these in a process_template_response hook; counted here
            # instead, Django calls no hook per response (DRF's responses are "None")
            self.by_templatename[str(template)](1)
        if response.streaming:
            self.count_streaming(1)
        else:
            self.observe_response_bytes(len(response.content))
        elapsed = default_timer() - started
        self.latency_by_view_method[view, request.method or ""](elapsed)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count a view's unhandled exception by type and by view."""
        self.exceptions_by_type[type(exception).__name__](1)
        if getattr(request, "resolver_match", None) is not None:
            self.exceptions_by_view[view_label(request)](1)
