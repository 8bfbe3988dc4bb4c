"""Prometheus metrics recorded inside the app (django-prometheus plus trace exemplars).

django-prometheus keeps its metric names and labels (the community dashboards and alerts
work unchanged); its request-latency histograms are swapped for a subclass that attaches the
active trace id as an exemplar to each observation.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from functools import partial
from timeit import default_timer
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django_prometheus.cache import metrics as cache_metrics
from django_prometheus.middleware import Metrics
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

from app.telemetry import exemplars

requests_in_flight = Gauge(
    "todos_http_requests_in_flight",
    "HTTP requests being served right now (probes excluded), summed over live workers.",
    multiprocess_mode="livesum",
)

# Loaded with the middlewares when a worker starts, so both series are exported (at 0) before
# the first error: the alert's rate and the dashboards' panels exist from the start.
dependency_errors = Counter(
    "todos_dependency_errors",
    "Requests answered 503 because a dependency (database, cache) was unreachable or timed out.",
    ["dependency"],
)
for _dependency in ("database", "cache"):
    dependency_errors.labels(_dependency)

# The cache's circuit breaker (app/cache/circuit.py), exported at 0 from worker start too.
cache_bypassed = Counter(
    "todos_cache_bypassed",
    "Cache operations answered without Redis (a miss, or a dropped write) while unreachable.",
)
cache_degraded = Gauge(
    "todos_cache_degraded",
    "1 while a worker serves without Redis (its cache circuit is open); max over live workers.",
    multiprocess_mode="livemax",
)

# The `backend` label django-prometheus' instrumented cache backends count under.
CACHE_BACKEND_LABELS = {
    "django_prometheus.cache.backends.redis.NativeRedisCache": "native_redis",
    "app.cache.backends.ResilientNativeRedisCache": "native_redis",
    "django_prometheus.cache.backends.locmem.LocMemCache": "locmem",
}


def export_cache_counters() -> None:
    """Export the configured cache's get/hit/miss/fail counters at 0.

    django-prometheus creates each series on its first increment, so a warm cache had no miss
    series: the miss-ratio alert and panels read nothing until the first miss.
    """
    label = CACHE_BACKEND_LABELS.get(settings.CACHES["default"]["BACKEND"])
    if label is None:
        return
    for counter in (
        cache_metrics.django_cache_get_total,
        cache_metrics.django_cache_hits_total,
        cache_metrics.django_cache_misses_total,
        cache_metrics.django_cache_get_fail_total,
    ):
        counter.labels(backend=label)


EXEMPLAR_HISTOGRAMS = frozenset(
    {
        "django_http_requests_latency_seconds_by_view_method",
        "django_http_requests_latency_including_middlewares_seconds",
    }
)


def current_trace_exemplar() -> dict[str, str] | None:
    """``{"trace_id", "span_id"}`` of the active, sampled span, if any."""
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


class ExemplarHistogram(Histogram):
    """A Histogram whose observations carry the active trace as an exemplar."""

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if exemplar is None:
            exemplar = current_trace_exemplar()
        shared = exemplars.writer()
        if shared is None:  # one process: prometheus_client keeps the exemplar itself
            super().observe(amount, exemplar)
            return
        super().observe(amount)  # multiprocess mode would drop the exemplar: share it instead
        if exemplar is not None and "trace_id" in exemplar:
            self._share_exemplar(shared, amount, exemplar)

    def _share_exemplar(
        self, shared: exemplars.ExemplarWriter, amount: float, exemplar: dict[str, str]
    ) -> None:
        """Hand the exemplar to the master through this worker's file."""
        index = bisect_left(self._upper_bounds, amount)
        shared.record_lazy(
            (self._name, self._labelvalues, index),
            partial(
                self._stored_exemplar,
                index,
                amount,
                exemplar["trace_id"],
                exemplar.get("span_id", ""),
                time.time(),
            ),
        )

    def _stored_exemplar(
        self, index: int, amount: float, trace_id: str, span_id: str, timestamp: float
    ) -> exemplars.StoredExemplar:
        labels = dict(zip(self._labelnames, self._labelvalues, strict=True))
        labels["le"] = floatToGoString(self._upper_bounds[index])
        return exemplars.StoredExemplar(
            sample=f"{self._name}_bucket",
            labels=labels,
            trace_id=trace_id,
            span_id=span_id,
            value=amount,
            timestamp=timestamp,
        )


class ExemplarMetrics(Metrics):  # type: ignore[misc]  # django-prometheus is untyped
    """django-prometheus's request metrics, with exemplars on the latency histograms."""

    def register_metric(
        self, metric_cls: type[Any], name: str, documentation: str, labelnames: Any = (), **kw: Any
    ) -> Any:
        if metric_cls is Histogram and name in EXEMPLAR_HISTOGRAMS:
            metric_cls = ExemplarHistogram
        return super().register_metric(metric_cls, name, documentation, labelnames, **kw)


class LabelledChildren:
    """Remembers each labelled child of one metric: ``labels()`` resolves once per label set.

    prometheus_client's ``labels()`` validates and looks the child up on every call; a request
    updates about ten labelled series, so the lookups cost more than the updates.
    """

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}
)
UNNAMED_VIEW = "<unnamed view>"


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
        self.requests_total = metrics.requests_total
        self.responses_total = metrics.responses_total
        self.latency = metrics.requests_latency_before
        export_cache_counters()  # once per worker, when Django loads its middlewares

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = default_timer()
        self.requests_total.inc()
        requests_in_flight.inc()
        try:
            response = self.get_response(request)
        finally:
            requests_in_flight.dec()
        self.responses_total.inc()
        self.latency.observe(default_timer() - started)
        return response


class ViewMetricsMiddleware:
    """The innermost metrics: django-prometheus' per-request families, with cached children.

    Same names, labels and meanings as ``PrometheusAfterMiddleware`` (method, transport, view,
    status, body sizes, latency by view with exemplars, exceptions by type and view), so the
    community django-mixin dashboards and alerts read them unchanged.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        m = ExemplarMetrics.get_instance()
        self.m = m
        self.by_method = LabelledChildren(m.requests_by_method)
        self.by_transport = LabelledChildren(m.requests_by_transport)
        self.by_view_transport_method = LabelledChildren(m.requests_by_view_transport_method)
        self.by_templatename = LabelledChildren(m.responses_by_templatename)
        self.by_status = LabelledChildren(m.responses_by_status)
        self.by_status_view_method = LabelledChildren(m.responses_by_status_view_method)
        self.by_charset = LabelledChildren(m.responses_by_charset)
        self.latency_by_view_method = LabelledChildren(m.requests_latency_by_view_method)
        self.exceptions_by_type = LabelledChildren(m.exceptions_by_type)
        self.exceptions_by_view = LabelledChildren(m.exceptions_by_view)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        method = method_label(request)
        transport = "https" if request.is_secure() else "http"
        self.by_method(method).inc()
        self.by_transport(transport).inc()
        meta = request.META  # not request.headers: building that mapping costs ~13 µs
        if meta.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            self.m.requests_ajax.inc()
        self.m.requests_body_bytes.observe(int(meta.get("CONTENT_LENGTH") or 0))
        started = default_timer()
        response = self.get_response(request)
        view = view_label(request)
        if getattr(request, "resolver_match", None) is not None:
            self.by_view_transport_method(view, transport, method).inc()
        status = str(response.status_code)
        self.by_status(status).inc()
        self.by_status_view_method(status, view, method).inc()
        charset = getattr(response, "charset", None)
        if charset is not None:
            self.by_charset(str(charset)).inc()
        if response.streaming:
            self.m.responses_streaming.inc()
        else:
            self.m.responses_body_bytes.observe(len(response.content))
        elapsed = default_timer() - started
        self.latency_by_view_method(view, request.method or "").observe(elapsed)
        return response

    def process_template_response(
        self, request: HttpRequest, response: SimpleTemplateResponse
    ) -> SimpleTemplateResponse:
        """Count template responses by template name (DRF's responses are ``None``)."""
        self.by_templatename(str(response.template_name)).inc()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count a view's unhandled exception by type and by view."""
        self.exceptions_by_type(type(exception).__name__).inc()
        if getattr(request, "resolver_match", None) is not None:
            self.exceptions_by_view(view_label(request)).inc()
