"""Who is emitting telemetry: service name, version and deployment environment.

Read from the standard variables (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, parsed and
percent-decoded by the OpenTelemetry SDK's own detector) plus ``DEPLOYMENT_ENVIRONMENT``, without
Django settings, so gunicorn's master can use it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from opentelemetry.sdk.resources import OTELResourceDetector

from app import __version__
from app.envconfig import ENV

DEFAULT_SERVICE_NAME = "todo-api"


@dataclass(frozen=True)
class ServiceIdentity:
    """The service's name, version and deployment environment."""

    name: str
    version: str
    environment: str


def resource_attributes() -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES`` (``k=v,k2=v%20two``) as the SDK reads it: trimmed and
    percent-decoded, pairs without ``=`` skipped (the SDK logs a warning for each)."""
    detected = OTELResourceDetector().detect().attributes
    return {key: str(value) for key, value in detected.items()}


@cache
def service_identity() -> ServiceIdentity:
    """The identity of this process, read once from the environment."""
    attributes = resource_attributes()
    environment = (
        ENV.raw("DEPLOYMENT_ENVIRONMENT")
        or attributes.get("deployment.environment.name")
        or attributes.get("deployment.environment")
        or "development"
    )
    return ServiceIdentity(
        name=ENV.raw("OTEL_SERVICE_NAME") or attributes.get("service.name") or DEFAULT_SERVICE_NAME,
        version=attributes.get("service.version") or __version__,
        environment=environment,
    )
