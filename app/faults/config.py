"""What faults to inject: the environment's defaults, the production guard, how they are shown.

Fault injection (``app.faults``) adds errors and latency on chosen routes for demos and alert
tests. Defaults come from the environment: off unless ``FAULT_ERROR_RATE`` (0..1) or
``FAULT_LATENCY_MS`` (+ ``FAULT_LATENCY_JITTER_MS``) is set; ``FAULT_ROUTES``
(comma-separated route templates such as ``/api/todos/``, or ``*``) limits them; the target
``jobs`` (never implied by ``*``) makes export jobs fail at ``FAULT_ERROR_RATE`` instead: the
task raises in the worker (``app.faults.jobs``), so the jobs metrics and alerts see real
failures; ``graphql:<OperationName>`` and ``graphql:*`` (never implied by ``*`` either) make
GraphQL resolvers fail (``app.faults.graphql``). They are the runtime switch's starting
position only: once a staff user sets or clears the switch (API and admin), its setting,
stored in the database, applies in every worker instead (``state``).
Refused, with an error log, when ``DEPLOYMENT_ENVIRONMENT`` is
``production``. Injected in ``process_view`` (after routing, inside the metrics middlewares),
so injected errors are real unhandled exceptions: counted as 5xx, logged, sent to Sentry
(``middleware``). The active faults are always visible as gauges (``metrics``); this process's
current faults live in ``state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured

from app.envconfig import Env
from app.telemetry.identity import service_identity

logger = structlog.get_logger(__name__)


# What staff need to switch faults off is never faulted, even with every route chosen: the
# switch, the token endpoints that let them call it, and the admin (probes are answered before
# routing and never reach the fault middleware).
CONTROL_ROUTES = frozenset({"/api/faults/", "/api/auth/token/", "/api/auth/token/refresh/"})
CONTROL_PREFIX = "/admin/"
# The target that fails background jobs (export runs) rather than requests.
JOBS_TARGET = "jobs"
# Targets ``graphql:<OperationName>`` and ``graphql:*`` fail GraphQL resolvers instead
# (``app.faults.graphql``): the response is a 200 whose errors say INTERNAL_SERVER_ERROR.
GRAPHQL_TARGET_PREFIX = "graphql:"


@dataclass(frozen=True)
class FaultConfig:
    """What to inject and where."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    routes: frozenset[str] = frozenset({"*"})

    @property
    def active(self) -> bool:
        """True when any fault is switched on."""
        return self.error_rate > 0 or self.latency_ms > 0 or self.jitter_ms > 0

    def applies_to(self, route: str) -> bool:
        """True for a route the faults target (never the controls that switch them off)."""
        if route in CONTROL_ROUTES or route.startswith(CONTROL_PREFIX):
            return False
        return "*" in self.routes or route in self.routes

    @property
    def jobs_error_rate(self) -> float:
        """Share of export runs to fail: the error rate when ``jobs`` is a target, else 0."""
        return self.error_rate if JOBS_TARGET in self.routes else 0.0


# Read when the middleware is set up in a worker: a bad value stops it from booting.
_env = Env(error=ImproperlyConfigured)


def faults_allowed() -> bool:
    """Faults are refused when the deployment says it is production."""
    return service_identity().environment != "production"


def faults_from_environment() -> FaultConfig:
    """The faults the environment asks for; none in production."""
    config = FaultConfig(
        error_rate=_env.number("FAULT_ERROR_RATE", 0.0, low=0, high=1),
        latency_ms=_env.number("FAULT_LATENCY_MS", 0.0, low=0, high=60_000),
        jitter_ms=_env.number("FAULT_LATENCY_JITTER_MS", 0.0, low=0, high=60_000),
        routes=frozenset(_env.strings("FAULT_ROUTES", [])) or frozenset({"*"}),
    )
    if config.active and not faults_allowed():
        logger.error("fault_injection_refused", reason="deployment environment is production")
        return FaultConfig()
    return config


def describe(config: FaultConfig) -> dict[str, Any]:
    """The config as the API and the logs show it (whole milliseconds; no routes: all)."""
    return {
        "error_rate": config.error_rate,
        "latency_ms": round(config.latency_ms),
        "latency_jitter_ms": round(config.jitter_ms),
        "routes": sorted(route for route in config.routes if route != "*"),
    }
