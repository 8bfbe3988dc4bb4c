"""Who is emitting telemetry: service name, version and deployment environment.

Read from the standard variables (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) plus
``DEPLOYMENT_ENVIRONMENT``, without Django settings, so gunicorn's master can use it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from app import __version__

DEFAULT_SERVICE_NAME = "todo-api"


@dataclass(frozen=True)
class ServiceIdentity:
    """The service's name, version and deployment environment."""

    name: str
    version: str
    environment: str


def resource_attributes(raw: str | None = None) -> dict[str, str]:
    """Parse ``OTEL_RESOURCE_ATTRIBUTES`` (``k=v,k2=v2``)."""
    text = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "") if raw is None else raw
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


@cache
def service_identity() -> ServiceIdentity:
    """The identity of this process, read once from the environment."""
    attributes = resource_attributes()
    environment = (
        os.environ.get("DEPLOYMENT_ENVIRONMENT")
        or attributes.get("deployment.environment.name")
        or attributes.get("deployment.environment")
        or "development"
    )
    return ServiceIdentity(
        name=os.environ.get("OTEL_SERVICE_NAME")
        or attributes.get("service.name")
        or DEFAULT_SERVICE_NAME,
        version=attributes.get("service.version") or __version__,
        environment=environment,
    )
