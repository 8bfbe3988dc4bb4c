"""Start the per-process telemetry (traces, errors) once, before Django serves a request."""

from __future__ import annotations

from app.envconfig import ENV, Env

_started = False


def telemetry_enabled(env: Env = ENV) -> bool:
    """``TELEMETRY_ENABLED=false`` (or ``off``, ``no``, ``0``) turns every signal off (the
    benchmark's bare mode); a value that is not a boolean is an error raised by ``env``."""
    return env.boolean("TELEMETRY_ENABLED", True)


def start_process_telemetry() -> None:
    """Configure tracing and Sentry in this process; safe to call more than once."""
    global _started  # noqa: PLW0603  # process-wide, like the SDKs it configures
    if _started or not telemetry_enabled():
        return
    _started = True
    from app.telemetry.errors import configure_sentry  # noqa: PLC0415  # needs settings loaded
    from app.telemetry.tracing.provider import configure_tracing  # noqa: PLC0415

    configure_tracing()
    configure_sentry()
