"""Fault injection for demos and alert tests: errors and added latency on chosen routes.

Defaults come from the environment: off unless ``FAULT_ERROR_RATE`` (0..1) or
``FAULT_LATENCY_MS`` (+ ``FAULT_LATENCY_JITTER_MS``) is set; ``FAULT_ROUTES``
(comma-separated route templates such as ``/api/todos/``, or ``*``) limits them. A staff user
can override them at runtime (``app.faults``: API and admin); the override reaches every
worker through the database. Refused, with an error log, when ``DEPLOYMENT_ENVIRONMENT`` is
``production``. Injected in ``process_view`` (after routing, inside the metrics middlewares),
so injected errors are real unhandled exceptions: counted as 5xx, logged, sent to Sentry.
The active faults are always visible as gauges (``todos_fault_*``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from prometheus_client import Gauge

from app.envconfig import Env
from app.telemetry.identity import service_identity
from app.telemetry.routes import route_template

logger = structlog.get_logger(__name__)
_random = random.SystemRandom()


class InjectedFaultError(RuntimeError):
    """The error a fault raises on purpose."""


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
        """True for a route the faults target (probes and unmatched paths never)."""
        return "*" in self.routes or route in self.routes


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
    if config.active:
        logger.warning("fault_injection_active", **describe(config))
    return config


def describe(config: FaultConfig) -> dict[str, Any]:
    """The config as the API and the logs show it (whole milliseconds; no routes: all)."""
    return {
        "error_rate": config.error_rate,
        "latency_ms": round(config.latency_ms),
        "latency_jitter_ms": round(config.jitter_ms),
        "routes": sorted(route for route in config.routes if route != "*"),
    }


fault_error_rate = Gauge(
    "todos_fault_error_rate",
    "Share of matching requests failed on purpose by fault injection (0 = off).",
    multiprocess_mode="livemax",
)
fault_latency_seconds = Gauge(
    "todos_fault_latency_seconds",
    "Latency added on purpose by fault injection, fixed part plus maximum jitter (0 = off).",
    multiprocess_mode="livemax",
)


class FaultState:
    """This process's faults: the environment's defaults unless a runtime override is set."""

    def __init__(self) -> None:
        self._defaults: FaultConfig | None = None
        self._override: FaultConfig | None = None

    def current(self) -> FaultConfig:
        """The faults to apply now."""
        if self._override is not None:
            return self._override
        if self._defaults is None:
            self._defaults = faults_from_environment()
            _publish(self._defaults)
        return self._defaults

    @property
    def overridden(self) -> bool:
        """True while a runtime override (from the fault switch) is applied."""
        return self._override is not None

    def set_override(self, config: FaultConfig | None) -> None:
        """Apply a runtime override (``None``: back to the environment's defaults)."""
        if config is not None and config.active and not faults_allowed():
            config = None
        if config == self._override:
            return
        self._override = config
        _publish(self.current())

    def reset(self) -> None:
        """Forget everything (tests)."""
        self._defaults = None
        self._override = None


def _publish(config: FaultConfig) -> None:
    fault_error_rate.set(config.error_rate)
    fault_latency_seconds.set((config.latency_ms + config.jitter_ms) / 1000)


state = FaultState()


class FaultInjectionMiddleware:
    """Delay or fail matching requests after routing, before the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        state.current()  # log and publish the environment's faults when a worker starts

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        config = state.current()
        if not config.active:
            return
        route = route_template(request)
        if not config.applies_to(route):
            return
        delay_ms = config.latency_ms + _random.uniform(0, config.jitter_ms)
        if delay_ms > 0:
            time.sleep(delay_ms / 1000)
        if config.error_rate > 0 and _random.random() < config.error_rate:
            raise InjectedFaultError(f"injected fault on {route}")
