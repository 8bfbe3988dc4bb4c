"""DRF's throttles, still counting while Redis is down (per worker then).

The same classes as ``rest_framework.throttling`` (same scopes, rates and cache keys), with
their counters in a ``FallbackCache``: the shared cache (Redis) while it answers, this worker's
memory while it does not. Without it, DRF's throttles find every history empty during a Redis
outage and let every request through. During an outage each gunicorn worker counts on its own:
one client gets at most ``WEB_CONCURRENCY`` times the rate per pod.

``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]`` names the anonymous and user throttles; the
auth views use ``ScopedRateThrottle``; ``app.accounts.throttling`` has the per-username one.
"""

from __future__ import annotations

from rest_framework import throttling

from app.cache.fallback import FallbackCache

# Request histories of every client and user (lists of timestamps, up to the rate's N each).
REQUEST_COUNTERS = FallbackCache("throttles")


class AnonRateThrottle(throttling.AnonRateThrottle):
    """Anonymous requests per client address (``anon`` rate), kept through a Redis outage."""

    cache = REQUEST_COUNTERS


class UserRateThrottle(throttling.UserRateThrottle):
    """Requests per authenticated user (``user`` rate), kept through a Redis outage."""

    cache = REQUEST_COUNTERS


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """Requests per client and the view's ``throttle_scope``, kept through a Redis outage."""

    cache = REQUEST_COUNTERS
