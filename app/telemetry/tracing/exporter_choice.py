"""Which span exporters ``OTEL_TRACES_EXPORTER`` asks for: import-safe (no SDK, no Django).

The OpenTelemetry SDK environment specification names the exporters in a comma-separated
list: ``otlp`` (the spec's default), ``console`` (spans printed to stdout) and ``none`` (no
exporter; spans are still made, so trace context propagates and log lines keep their ids).
One departure from the spec, on purpose: with neither ``OTEL_TRACES_EXPORTER`` nor an OTLP
endpoint set there is no exporter, so ``make run`` does not retry a collector that is not there.
An unknown name is an error naming the variable. gunicorn's master reads this before forking
(a bad value stops start-up with one line), the worker again when it builds its exporters.
"""

from __future__ import annotations

from app.envconfig import ENV, Env
from app.telemetry.tracing.protocol import otlp_endpoint

TRACES_EXPORTERS = ("otlp", "console", "none")


def traces_exporters(env: Env = ENV) -> tuple[str, ...]:
    """The exporters to build, in the order given, without duplicates; empty for ``none``."""
    names = env.choices("OTEL_TRACES_EXPORTER", TRACES_EXPORTERS)
    if not names:
        return ("otlp",) if otlp_endpoint(env) else ()
    return tuple(dict.fromkeys(name for name in names if name != "none"))
