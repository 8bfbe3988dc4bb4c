"""Inject the active faults: delay or fail matching requests after routing, before the view.

Runs inside the metrics middlewares (see ``MIDDLEWARE`` in settings), so an injected error is a
real unhandled exception: counted as a 5xx, logged and sent to Sentry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from app.faults.config import FaultConfig
from app.faults.state import state
from app.telemetry.routes import route_template

_random = random.SystemRandom()


class InjectedFaultError(RuntimeError):
    """The error a fault raises on purpose."""


def inject(config: FaultConfig, where: str) -> None:
    """Wait ``config``'s latency (with jitter), then fail at its error rate, naming ``where``."""
    delay_ms = config.latency_ms + _random.uniform(0, config.jitter_ms)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if config.error_rate > 0 and _random.random() < config.error_rate:
        raise InjectedFaultError(f"injected fault {where}")


class FaultInjectionMiddleware:
    """Delay or fail matching requests after routing, before the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        state.defaults()  # a bad FAULT_* value stops the worker from booting

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        config = state.current()
        if not config.active:
            return
        route = route_template(request)
        if not config.applies_to(route):
            return
        inject(config, f"on {route}")
