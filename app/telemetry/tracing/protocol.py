"""Which OTLP protocol the traces go out with, and whether its exporter is installed.

Import-safe in the gunicorn master (no OpenTelemetry, no Django): ``gunicorn.conf.py`` calls
``require_exporter`` so that a missing optional exporter stops the master with one line
before any worker starts, and ``provider`` calls it again in each worker before importing the
exporter. ``http/protobuf`` is the default and a runtime dependency; ``grpc`` is the
project's optional ``grpc`` extra (it brings grpcio), installed by the dev lock but not by
the runtime lock nor the image.
"""

from __future__ import annotations

import importlib.util

from app.envconfig import ENV, Env

PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
GRPC = "grpc"
GRPC_EXPORTER_MODULE = "opentelemetry.exporter.otlp.proto.grpc"
GRPC_EXPORTER_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"


def otlp_endpoint(env: Env = ENV) -> str | None:
    """The configured OTLP traces endpoint, if any."""
    return env.first(*ENDPOINT_VARIABLES)


def otlp_protocol(env: Env = ENV) -> str:
    """``http/protobuf`` (default) or ``grpc``."""
    return (env.first(*PROTOCOL_VARIABLES) or "http/protobuf").lower()


def grpc_exporter_installed() -> bool:
    """Whether the optional gRPC exporter can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(GRPC_EXPORTER_MODULE) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_exporter_message(env: Env = ENV) -> str | None:
    """Why the configured protocol's exporter cannot be made (``None`` when it can)."""
    if otlp_protocol(env) != GRPC or grpc_exporter_installed():
        return None
    name = next(name for name in PROTOCOL_VARIABLES if env.raw(name) is not None)
    return (
        f"{name}=grpc needs the optional OTLP gRPC exporter, which is not installed: "
        f'pip install "{GRPC_EXPORTER_PACKAGE}>=1.30,<2" (the project\'s `grpc` extra), '
        f"or set {name}=http/protobuf"
    )


def require_exporter(env: Env = ENV) -> None:
    """Raise ``env``'s error (``EnvError``; ``SystemExit`` in the gunicorn master) when the
    configured protocol's exporter is not installed."""
    message = missing_exporter_message(env)
    if message is not None:
        raise env.error(message)
