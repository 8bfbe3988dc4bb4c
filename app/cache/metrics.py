"""The cache's metrics: the circuit breaker's own, and django-prometheus' counters at 0.

``todos_cache_bypassed`` and ``todos_cache_degraded`` are recorded by the circuit breaker
(``app.cache.circuit``). ``export_cache_counters`` runs once per worker when the request metrics
middleware loads.
"""

from __future__ import annotations

from django.conf import settings
from prometheus_client import Counter, Gauge

from app.cache.config import metrics_label

cache_bypassed = Counter(
    "todos_cache_bypassed",
    "Cache operations answered without Redis (a miss, or a dropped write) while unreachable.",
)
cache_degraded = Gauge(
    "todos_cache_degraded",
    "1 while a worker serves without Redis (its cache circuit is open); max over live workers.",
    multiprocess_mode="livemax",
)


def export_cache_counters() -> None:
    """Export the configured cache's get/hit/miss/fail counters at 0.

    django-prometheus creates each series on its first increment, so a warm cache had no miss
    series: the miss-ratio alert and panels read nothing until the first miss.
    """
    label = metrics_label(settings.CACHES["default"]["BACKEND"])
    if label is None:
        return
    # django-prometheus reads settings when imported: only once the worker's settings are loaded.
    from django_prometheus.cache import metrics as cache_metrics  # noqa: PLC0415

    for counter in (
        cache_metrics.django_cache_get_total,
        cache_metrics.django_cache_hits_total,
        cache_metrics.django_cache_misses_total,
        cache_metrics.django_cache_get_fail_total,
    ):
        counter.labels(backend=label)
