"""Prometheus metrics recorded inside the app (django-prometheus plus trace exemplars).

django-prometheus keeps its metric names and labels (the community dashboards and alerts
work unchanged); its request-latency histograms are swapped for a subclass that attaches the
active trace id as an exemplar to each observation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.cache import metrics as cache_metrics
from django_prometheus.middleware import (
    Metrics,
    PrometheusAfterMiddleware,
    PrometheusBeforeMiddleware,
)
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
        bound = next(b for b in self._upper_bounds if amount <= b)
        labels = dict(zip(self._labelnames, self._labelvalues, strict=True))
        labels["le"] = floatToGoString(bound)
        shared.record(
            exemplars.StoredExemplar(
                sample=f"{self._name}_bucket",
                labels=labels,
                trace_id=exemplar["trace_id"],
                span_id=exemplar.get("span_id", ""),
                value=amount,
                timestamp=time.time(),
            )
        )


class ExemplarMetrics(Metrics):  # type: ignore[misc]  # django-prometheus is untyped
    """django-prometheus's request metrics, with exemplars on the latency histograms."""

    def register_metric(
        self, metric_cls: type[Any], name: str, documentation: str, labelnames: Any = (), **kw: Any
    ) -> Any:
        if metric_cls is Histogram and name in EXEMPLAR_HISTOGRAMS:
            metric_cls = ExemplarHistogram
        return super().register_metric(metric_cls, name, documentation, labelnames, **kw)


class MetricsBeforeMiddleware(PrometheusBeforeMiddleware):  # type: ignore[misc]
    """First of the pair: counts requests and starts the clock."""

    metrics_cls = ExemplarMetrics

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        export_cache_counters()  # once per worker, when Django loads its middlewares


class MetricsAfterMiddleware(PrometheusAfterMiddleware):  # type: ignore[misc]
    """Last of the pair: observes latency (with exemplars) by view, method and status."""

    metrics_cls = ExemplarMetrics


class InFlightMiddleware:
    """Counts the requests a worker is serving (the saturation signal of the RED panels)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with requests_in_flight.track_inprogress():
            return self.get_response(request)
