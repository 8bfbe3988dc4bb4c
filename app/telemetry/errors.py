"""Sentry error reporting, on only when ``SENTRY_DSN`` is set.

OpenTelemetry stays the single source of trace ids: Sentry's OTLP integration only links each
event to the active OTel span (its exporter and propagator are left off, so W3C
``traceparent`` propagation is untouched), and events are not created from log lines (the
Django integration captures unhandled exceptions once; GraphQL resolver failures are sent by
``app.graphql.telemetry``, and Sentry's Strawberry integration stays off). No request bodies,
no PII, and the same secret scrubbing as the logs.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
import structlog
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.otlp import OTLPIntegration
from sentry_sdk.integrations.strawberry import StrawberryIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from app.envconfig import ENV
from app.telemetry.identity import service_identity
from app.telemetry.logging import redact

SCRUBBED_KEYS = [*DEFAULT_DENYLIST, "access", "refresh", "jwt", "bearer"]
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Drop request bodies, cookies and credential headers; redact secret-looking values."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value
                for name, value in headers.items()
                if name.lower() not in DROPPED_HEADERS
            }
    meta = event.pop("_meta", None)  # Sentry's own annotations: not user data, keep as is
    cleaned: dict[str, Any] = redact(event)
    if meta is not None:
        cleaned["_meta"] = meta
    return cleaned


def tag_request_id(event: dict[str, Any]) -> dict[str, Any]:
    """The ``request_id`` tag of an event sent while a request is served: the id its log lines
    carry (bound by ``app.telemetry.access``), read when an event is sent rather than set on
    Sentry's scope for every request."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        tags = event.get("tags")
        event["tags"] = {**(tags if isinstance(tags, dict) else {}), "request_id": request_id}
    return event


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's last look at each error event: tagged with its request, then scrubbed."""
    return scrub_event(tag_request_id(event), hint)


def _quiet_exit(pending: int, timeout: float) -> None:
    """At worker exit, flush without printing plain-text lines into the JSON log."""


def exit_flush_seconds() -> float:
    """How long Sentry may spend sending queued events when the process exits (its
    ``shutdown_timeout``, 2 s by default); 0 while Sentry is off."""
    client = sentry_sdk.get_client()
    if not client.is_active():
        return 0.0
    return float(client.options.get("shutdown_timeout") or 0.0)


def sentry_dsn() -> str:
    """The contents of the file ``SENTRY_DSN_FILE`` names (a mounted secret: the DSN's key lets
    anyone send events), else ``SENTRY_DSN``; empty when neither is set."""
    return ENV.string("SENTRY_DSN", "").strip()


def configure_sentry() -> bool:
    """Initialise Sentry from ``SENTRY_*`` variables; ``False`` when no DSN is set."""
    dsn = sentry_dsn()
    if not dsn:
        return False
    identity = service_identity()
    rate = (
        ENV.number("SENTRY_TRACES_SAMPLE_RATE", 0.0, low=0, high=1)
        if ENV.raw("SENTRY_TRACES_SAMPLE_RATE") is not None
        else None  # unset: Sentry's own default
    )
    sentry_sdk.init(
        dsn=dsn,
        environment=ENV.string("SENTRY_ENVIRONMENT", identity.environment),
        release=ENV.string("SENTRY_RELEASE", f"{identity.name}@{identity.version}"),
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=rate,
        event_scrubber=EventScrubber(denylist=SCRUBBED_KEYS, recursive=True),
        before_send=before_send,  # type: ignore[arg-type]
        integrations=[
            DjangoIntegration(),
            AtexitIntegration(callback=_quiet_exit),
            LoggingIntegration(event_level=None),
            OTLPIntegration(setup_otlp_traces_exporter=False, setup_propagator=False),
        ],
        # Auto-enabled when strawberry is installed, it would add its own spans and error
        # handling to every GraphQL operation; app.graphql reports its server errors itself.
        disabled_integrations=[StrawberryIntegration],
    )
    return True
