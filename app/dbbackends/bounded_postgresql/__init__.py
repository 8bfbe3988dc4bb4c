"""Django's PostgreSQL backend with a bound on silent servers (no telemetry)."""
