"""The cache's metrics (app.cache.metrics): django-prometheus' counters exported at 0."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.cache.metrics import export_cache_counters

pytestmark = pytest.mark.database_free


def test_the_configured_cache_counters_are_exported_before_any_get(
    settings: Any,
) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django_prometheus.cache.backends.redis.NativeRedisCache"}
    }
    export_cache_counters()
    exported = {
        (sample.name, sample.labels.get("backend"))
        for metric in REGISTRY.collect()
        for sample in metric.samples
    }
    for name in ("django_cache_get_total", "django_cache_get_misses_total"):
        assert (name, "native_redis") in exported
