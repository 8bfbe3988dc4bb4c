"""Liveness and readiness probes.

``/healthz`` says the process answers (no dependency calls: a database outage must not make
Kubernetes restart every pod). ``/readyz`` checks the database and the cache and answers 503
naming the failing check, so the pod leaves the load balancer until they recover.

A check may instead report its dependency *degraded* (``DependencyDegraded``): the pod serves
without it, so ``/readyz`` stays 200 and says so. The cache does this while Redis is down: it
holds only throttle state, and taking every pod out of the Service for a cache outage would
turn a degradation into a full outage.

Written here rather than with django-health-check: its view answers 500 (not 503) and runs
checks on a thread pool, which opens extra database connections per probe.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.cache.circuit import CircuitBreaker

logger = logging.getLogger(__name__)


def check_database() -> None:
    """Run ``SELECT 1`` on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


class DependencyDegraded(Exception):  # noqa: N818  # a state, not an error: the pod serves
    """Raised by a check whose dependency is down while the pod keeps serving without it."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def check_cache() -> None:
    """Write and read back a short-lived key in the default cache.

    While the cache's circuit is open (Redis unreachable, see ``app.cache``) the calls are
    answered without Redis at once, or probe it once per interval, and the check reports the
    cache degraded instead of failing.
    """
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    value = cache.get(key)
    circuit = getattr(cache, "circuit", None)
    if isinstance(circuit, CircuitBreaker) and circuit.is_open:
        raise DependencyDegraded(circuit.last_error)
    if value != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: 200 whenever the process can answer."""
    return _no_store(JsonResponse({"status": "ok"}))


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 503 naming the failed checks, else 200 (``degraded`` naming degraded ones).

    ``status`` is ``unavailable`` (503), ``degraded`` or ``ok``; ``failing`` and ``degraded``
    list the checks in each state; ``checks.<name>.status`` is ``ok``, ``degraded`` or
    ``error`` (the last two with the exception class as ``error``).
    """
    results: dict[str, dict[str, object]] = {}
    for name, check in READINESS_CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except DependencyDegraded as reduced:  # logged by the dependency, once per interval
            results[name] = {"status": "degraded", "error": reduced.error}
        except Exception as error:  # a probe reports any failure, never raises
            logger.warning("readiness check %s failed: %r", name, error)
            results[name] = {"status": "error", "error": type(error).__name__}
        else:
            results[name] = {"status": "ok"}
        results[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in results.items() if result["status"] == "error"]
    degraded = [name for name, result in results.items() if result["status"] == "degraded"]
    status = "unavailable" if failing else "degraded" if degraded else "ok"
    body = {"status": status, "failing": failing, "degraded": degraded, "checks": results}
    response = JsonResponse(body, status=503 if failing else 200)
    response._has_been_logged = True  # type: ignore[attr-defined]  # logged above, with the cause
    return _no_store(response)


PROBE_VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
}


class HealthProbeMiddleware:
    """Answer the probe paths before host validation, HTTPS redirects and sessions."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBE_VIEWS.get(request.path_info)
        if probe is not None:
            with suppress_instrumentation():  # a probe every few seconds is not a trace
                return probe(request)
        return self.get_response(request)
