"""Turn environment variables into Django settings values, failing loudly on bad input.

Kept apart from ``settings.py`` so each rule can be unit-tested without reloading settings.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from environ import FileAwareEnv
from environ.fileaware_mapping import FileAwareMapping


class _TrimmedFileAwareMapping(FileAwareMapping):  # type: ignore[misc]
    """``os.environ`` plus ``<NAME>_FILE`` files, without the file's trailing newline."""

    def __getitem__(self, key: str) -> str:
        value: str = super().__getitem__(key)
        if self.env.get(key + "_FILE"):
            return value.rstrip("\r\n")
        return value


class Env(FileAwareEnv):  # type: ignore[misc]
    """django-environ's reader: ``NAME`` or the contents of the file named by ``NAME_FILE``.

    Secret files (Kubernetes, Docker, `make run`) usually end with a newline; it is not part of
    the value, or a key read from a file would differ from the same key given inline.
    """

    ENVIRON = _TrimmedFileAwareMapping()


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def throttle_rate(value: str, *, name: str) -> str | None:
    """Validate a DRF throttle rate (``N/period``); ``off`` or ``none`` disables the throttle."""
    cleaned = value.strip().lower()
    if cleaned in {"off", "none", ""}:
        return None
    if not _RATE.match(cleaned):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a DRF rate such as '100/minute' (or 'off')."
        )
    return cleaned


def tune_database(
    config: dict[str, Any],
    *,
    conn_max_age: int,
    connect_timeout_s: int,
    statement_timeout_ms: int,
    instrumented: bool = False,
) -> dict[str, Any]:
    """Add connection reuse and timeouts to a parsed ``DATABASE_URL``.

    PostgreSQL: persistent connections with health checks, a libpq connect timeout and a
    server-side statement timeout, so a stuck database fails a request in seconds.
    SQLite: WAL journal and a busy timeout so several gunicorn workers can share the file.
    ``instrumented`` swaps in the project's backends: django-prometheus' query counts, latency
    and errors, plus a client span per query (``app.dbbackends``).
    """
    tuned = dict(config)
    options = dict(tuned.get("OPTIONS", {}))
    engine = str(tuned.get("ENGINE", ""))
    if engine.endswith("postgresql"):
        tuned["CONN_MAX_AGE"] = conn_max_age
        tuned["CONN_HEALTH_CHECKS"] = True
        options.setdefault("connect_timeout", connect_timeout_s)
        options.setdefault("options", f"-c statement_timeout={statement_timeout_ms}")
    elif engine.endswith("sqlite3"):
        tuned["CONN_MAX_AGE"] = conn_max_age
        tuned["CONN_HEALTH_CHECKS"] = True
        options.setdefault("timeout", max(connect_timeout_s, 1))
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    tuned["OPTIONS"] = options
    if instrumented and engine in _INSTRUMENTED_ENGINES:
        tuned["ENGINE"] = _INSTRUMENTED_ENGINES[engine]
    return tuned


_INSTRUMENTED_ENGINES = {
    "django.db.backends.postgresql": "app.dbbackends.postgresql",
    "django.db.backends.sqlite3": "app.dbbackends.sqlite3",
}


def cache_config(
    redis_url: str | None, *, timeout_s: float, instrumented: bool = False
) -> dict[str, Any]:
    """Build the default cache: Redis when ``REDIS_URL`` is set, else per-process memory.

    ``instrumented`` uses django-prometheus' backends (get/hit/miss counters).
    """
    if not redis_url:
        backend = "django_prometheus" if instrumented else "django.core"
        return {"BACKEND": f"{backend}.cache.backends.locmem.LocMemCache", "LOCATION": "todos"}
    scheme = urlsplit(redis_url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {scheme!r}."
        )
    return {
        "BACKEND": (
            "django_prometheus.cache.backends.redis.NativeRedisCache"
            if instrumented
            else "django.core.cache.backends.redis.RedisCache"
        ),
        "LOCATION": redis_url,
        "KEY_PREFIX": "todos",
        "OPTIONS": {
            "socket_connect_timeout": timeout_s,
            "socket_timeout": timeout_s,
        },
    }


def proxy_ssl_header(enabled: bool) -> tuple[str, str] | None:
    """The header a TLS-terminating proxy sets, trusted only when the deployment says so."""
    return ("HTTP_X_FORWARDED_PROTO", "https") if enabled else None
