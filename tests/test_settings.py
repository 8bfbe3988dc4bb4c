"""Settings come only from the environment, and bad or missing values stop the process.

The settings module is read once per process, so the end-to-end cases run ``manage.py`` or
``python -c`` in a subprocess with a clean environment: the test run's ``DJANGO_*``,
``THROTTLE_*``, ``DATABASE_*`` and ``REDIS_*`` variables removed, then explicit values. The
rules in ``app.envconfig`` are also unit-tested directly.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from app import envconfig
from loadtests import local_server

pytestmark = pytest.mark.database_free

INHERITED_PREFIXES_REMOVED = (
    "DJANGO_",
    "THROTTLE_",
    "DATABASE_",
    "REDIS_",
    "TELEMETRY_",
    "RESPONSE_CACHE_",
)
SUBPROCESS_TIMEOUT_S = 60.0
PRINT_SETTINGS = """
import json
import django
from django.conf import settings

django.setup()
print(json.dumps({
    "database": settings.DATABASES["default"],
    "cache": settings.CACHES["default"],
    "throttle_rates": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "response_cache_seconds": settings.RESPONSE_CACHE_SECONDS,
    "graphql": [settings.GRAPHQL_MAX_DEPTH, settings.GRAPHQL_MAX_ALIASES,
                settings.GRAPHQL_MAX_TOKENS, settings.GRAPHQL_MAX_COMPLEXITY,
                settings.GRAPHQL_INTROSPECTION],
    "secret_key": settings.SECRET_KEY,
}, default=str))
"""


def _secret() -> str:
    """A random secret key long and varied enough for ``check --deploy``."""
    return secrets.token_urlsafe(50)


def _production_env(**values: str) -> dict[str, str]:
    """A clean environment plus debug off, a fresh secret and one allowed host, then ``values``.

    A value of ``""`` removes that variable instead.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(INHERITED_PREFIXES_REMOVED)
    }
    env.update(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY=_secret(), DJANGO_ALLOWED_HOSTS="example.com"
    )
    for name, value in values.items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return local_server.run_python(args, env, SUBPROCESS_TIMEOUT_S)


def _check_deploy(**values: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` with production-like settings and ``values``."""
    return _run(["manage.py", "check", "--deploy"], _production_env(**values))


def _settings_with(**values: str) -> dict[str, Any]:
    """The database, cache, throttle rates and secret key a fresh process would use."""
    env = _production_env(DJANGO_SETTINGS_MODULE="app.settings", **values)
    result = _run(["-c", PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The final line of a traceback: the exception that stopped the process."""
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------ manage.py check --deploy
def test_it_passes_the_deployment_checklist_with_production_settings() -> None:
    """Debug off, a real secret and a host: ``check --deploy`` finds nothing to fix."""
    result = _check_deploy()
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # no default secret or host list outside debug
        pytest.param(
            {"DJANGO_SECRET_KEY": ""},
            "Set the DJANGO_SECRET_KEY environment variable",
            id="no-secret-key",
        ),
        pytest.param(
            {"DJANGO_ALLOWED_HOSTS": ""},
            "Set the DJANGO_ALLOWED_HOSTS environment variable",
            id="no-allowed-hosts",
        ),
        # set, but names no host
        pytest.param(
            {"DJANGO_ALLOWED_HOSTS": ","},
            "DJANGO_ALLOWED_HOSTS must name at least one host",
            id="empty-allowed-hosts",
        ),
        # a typo in a rate stops the process instead of disabling or crashing the throttle
        pytest.param(
            {"THROTTLE_USER_RATE": "banana"},
            "THROTTLE_USER_RATE='banana'",
            id="malformed-throttle-rate",
        ),
        # 0 would retry an unreachable Redis on every call: every request paying a timeout
        pytest.param(
            {"CACHE_RETRY_SECONDS": "0"},
            "CACHE_RETRY_SECONDS must be above 0",
            id="no-cache-retry-interval",
        ),
    ],
)
def test_it_refuses_to_start_with_a_missing_or_bad_setting_naming_the_variable(
    values: dict[str, str], message: str
) -> None:
    """The process stops with ImproperlyConfigured, naming the variable to fix."""
    line = _error_line(_check_deploy(**values))
    assert line.startswith("django.core.exceptions.ImproperlyConfigured"), line
    assert message in line


def test_it_reads_the_secret_key_from_a_file(tmp_path: Path) -> None:
    """``DJANGO_SECRET_KEY_FILE`` (a mounted secret) replaces ``DJANGO_SECRET_KEY``."""
    key = _secret()
    key_file = tmp_path / "secret_key"
    key_file.write_text(key)
    values = {"DJANGO_SECRET_KEY": "", "DJANGO_SECRET_KEY_FILE": str(key_file)}

    result = _check_deploy(**values)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert _settings_with(**values)["secret_key"] == key


def test_a_trailing_newline_in_a_secret_file_is_not_part_of_the_value(tmp_path: Path) -> None:
    """Mounted secrets usually end in a newline; the key and host list must not include it."""
    key = _secret()
    (tmp_path / "secret_key").write_text(key + "\n")
    (tmp_path / "hosts").write_text("a.example,b.example\n")
    values = {
        "DJANGO_SECRET_KEY": "",
        "DJANGO_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "DJANGO_ALLOWED_HOSTS": "",
        "DJANGO_ALLOWED_HOSTS_FILE": str(tmp_path / "hosts"),
    }
    script = "import django\nfrom django.conf import settings\ndjango.setup()\n"
    script += "print(repr(settings.SECRET_KEY), settings.ALLOWED_HOSTS)"

    result = _run(["-c", script], _production_env(DJANGO_SETTINGS_MODULE="app.settings", **values))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{key!r} ['a.example', 'b.example']"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TELEMETRY_ENABLED", "maybe", "expected true/false/1/0/yes/no/on/off, got 'maybe'"),
        ("DJANGO_DEBUG", "yes please", "expected true/false/1/0/yes/no/on/off"),
        ("DATABASE_CONN_MAX_AGE", "abc", "expected an integer, got 'abc'"),
        ("REDIS_TIMEOUT_SECONDS", "1s", "expected a duration in seconds (>= 0), got '1s'"),
    ],
)
def test_a_bad_value_stops_django_setup_with_one_line_naming_the_variable(
    name: str, value: str, expected: str
) -> None:
    """Never a bare ``int()``/``float()`` traceback: ImproperlyConfigured names the variable."""
    env = _production_env(DJANGO_SETTINGS_MODULE="app.settings", **{name: value})

    line = _error_line(_run(["-c", "import django\ndjango.setup()"], env))

    assert line.startswith(f"django.core.exceptions.ImproperlyConfigured: {name}: {expected}"), line


# The middlewares that produce signals: the server span, request metrics, the access event.
TELEMETRY_MIDDLEWARE = {
    "ServerSpanMiddleware",
    "RequestMetricsMiddleware",
    "RequestTelemetryMiddleware",
    "ViewMetricsMiddleware",
}


@pytest.mark.parametrize("word", ["off", "no", "0", "false", "OFF"])
def test_telemetry_off_in_any_spelling_leaves_no_telemetry_middleware(word: str) -> None:
    """``TELEMETRY_ENABLED=off`` (or no/0/false): no metrics, spans or access-log middleware."""
    script = (
        "import json\nimport django\nfrom django.conf import settings\ndjango.setup()\n"
        "print(json.dumps([settings.MIDDLEWARE, settings.INSTALLED_APPS]))"
    )
    env = _production_env(DJANGO_SETTINGS_MODULE="app.settings", TELEMETRY_ENABLED=word)

    result = _run(["-c", script], env)

    assert result.returncode == 0, result.stderr
    middleware, apps = json.loads(result.stdout)
    signals = {m.rsplit(".", 1)[-1] for m in middleware} & TELEMETRY_MIDDLEWARE
    assert signals == set()
    assert "django_prometheus" not in apps


# ------------------------------------------------------------------ settings from URLs
def test_it_tunes_a_postgres_database_url_for_connection_reuse_and_timeouts() -> None:
    """A PostgreSQL URL gives persistent, health-checked connections with bounded waits."""
    database = _settings_with(DATABASE_URL="postgres://u:p@db.example:5433/todos")["database"]
    assert database["ENGINE"] == "app.dbbackends.postgresql"  # instrumented
    assert (database["HOST"], int(database["PORT"]), database["NAME"]) == (
        "db.example",
        5433,
        "todos",
    )
    assert (database["USER"], database["PASSWORD"]) == ("u", "p")
    assert database["CONN_MAX_AGE"] > 0
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"]["connect_timeout"] == 3
    assert database["OPTIONS"]["options"] == "-c statement_timeout=3000"
    assert database["OPTIONS"]["tcp_user_timeout"] > 0
    assert database["REPLY_TIMEOUT_SECONDS"] == 3.5  # the statement timeout, plus half a second


def test_it_uses_redis_for_the_cache_when_redis_url_is_set() -> None:
    """``REDIS_URL`` selects the (instrumented, circuit-breaking) Redis cache at that location."""
    cache = _settings_with(REDIS_URL="redis://127.0.0.1:6379/1")["cache"]
    assert cache["BACKEND"] == "app.cache.backends.ResilientNativeRedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/1"
    assert cache["OPTIONS"]["retry_seconds"] == 5.0


def test_it_takes_the_cache_retry_interval_from_the_environment() -> None:
    """``CACHE_RETRY_SECONDS``: how long an unreachable Redis is left alone (app/cache)."""
    cache = _settings_with(REDIS_URL="redis://127.0.0.1:6379/1", CACHE_RETRY_SECONDS="2.5")
    assert cache["cache"]["OPTIONS"]["retry_seconds"] == 2.5


def test_redis_keys_start_with_todos_unless_cache_key_prefix_says_otherwise() -> None:
    """``CACHE_KEY_PREFIX``: deployments sharing one Redis database keep their keys apart."""
    default = _settings_with(REDIS_URL="redis://127.0.0.1:6379/1")["cache"]
    staging = _settings_with(REDIS_URL="redis://127.0.0.1:6379/1", CACHE_KEY_PREFIX="staging")
    assert default["KEY_PREFIX"] == "todos"
    assert staging["cache"]["KEY_PREFIX"] == "staging"


def test_bare_mode_uses_uninstrumented_backends() -> None:
    """``TELEMETRY_ENABLED=false`` (the benchmark's baseline): Django's own PostgreSQL backend,
    only reply-bound (a reliability bound, not telemetry), and no metered cache."""
    loaded = _settings_with(
        TELEMETRY_ENABLED="false",
        DATABASE_URL="postgres://u:p@db.example:5433/todos",
        REDIS_URL="redis://127.0.0.1:6379/1",
    )
    assert loaded["database"]["ENGINE"] == "app.dbbackends.bounded_postgresql"
    assert loaded["cache"]["BACKEND"] == "app.cache.backends.ResilientRedisCache"


def test_it_defaults_to_a_sqlite_database_and_a_local_memory_cache() -> None:
    """No URLs set: the embedded defaults a developer's `make run` relies on."""
    loaded = _settings_with()
    assert loaded["database"]["ENGINE"] == "app.dbbackends.sqlite3"
    assert loaded["cache"]["BACKEND"] == "django_prometheus.cache.backends.locmem.LocMemCache"


@pytest.mark.parametrize(
    ("values", "seconds"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:6379/1"}, 60),
        ({"REDIS_URL": "redis://127.0.0.1:6379/1", "RESPONSE_CACHE_SECONDS": "5"}, 5),
        ({"REDIS_URL": "redis://127.0.0.1:6379/1", "RESPONSE_CACHE_SECONDS": "0"}, 0),
        # per-process memory: each worker would keep its own copies and evict throttle counters
        ({"RESPONSE_CACHE_SECONDS": "30"}, 0),
        ({}, 0),
    ],
    ids=["redis-default", "redis-5s", "redis-off", "memory-asked", "memory-default"],
)
def test_reads_are_cached_for_response_cache_seconds_only_with_a_shared_cache(
    values: dict[str, str], seconds: int
) -> None:
    assert _settings_with(**values)["response_cache_seconds"] == seconds


@pytest.mark.parametrize(
    ("values", "graphql"),
    [
        # (the defaults, introspection off without debug: tests/graphql/test_limits.py)
        (
            {"GRAPHQL_MAX_DEPTH": "4", "GRAPHQL_MAX_ALIASES": "0", "GRAPHQL_MAX_TOKENS": "500",
             "GRAPHQL_MAX_COMPLEXITY": "50", "GRAPHQL_INTROSPECTION": "yes"},
            [4, 0, 500, 50, True],
        ),
    ],
    ids=["set"],
)  # fmt: skip
def test_graphql_limits_and_introspection_come_from_the_environment(
    values: dict[str, str], graphql: list[object]
) -> None:
    assert _settings_with(**values)["graphql"] == graphql


def test_a_negative_response_cache_ttl_stops_the_process() -> None:
    result = _run(
        ["-c", PRINT_SETTINGS],
        _production_env(
            DJANGO_SETTINGS_MODULE="app.settings",
            REDIS_URL="redis://127.0.0.1:6379/1",
            RESPONSE_CACHE_SECONDS="-1",
        ),
    )
    assert "RESPONSE_CACHE_SECONDS: expected an integer >= 0" in _error_line(result)


def test_it_takes_throttle_rates_from_the_environment() -> None:
    """``THROTTLE_ANON_RATE`` reaches DRF's throttle rates; unset rates keep defaults."""
    rates = _settings_with(THROTTLE_ANON_RATE="7/minute")["throttle_rates"]
    assert rates["anon"] == "7/minute"
    assert rates["user"] == "1000/minute"


# ------------------------------------------------------------------ app.envconfig
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100/minute", "100/minute"),
        (" 5/S ", "5/s"),
        ("20/hour", "20/hour"),
        ("1/d", "1/d"),
        ("off", None),
        ("None", None),
        ("", None),
    ],
)
def test_it_accepts_drf_throttle_rates_and_off(value: str, expected: str | None) -> None:
    """Rates are normalised; ``off``/``none``/empty disable the throttle."""
    assert envconfig.throttle_rate(value, name="THROTTLE_X") == expected


@pytest.mark.parametrize("value", ["banana", "100", "100/fortnight", "/minute", "-1/minute"])
def test_it_rejects_malformed_throttle_rates(value: str) -> None:
    """Anything else is a configuration error naming the variable."""
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_X="):
        envconfig.throttle_rate(value, name="THROTTLE_X")


def test_it_tunes_postgres_for_reuse_health_checks_and_timeouts() -> None:
    """Persistent connections, health checks, a connect and a statement timeout."""
    parsed = {"ENGINE": "django.db.backends.postgresql", "NAME": "todos"}
    tuned = envconfig.tune_database(
        parsed, conn_max_age=600, connect_timeout_s=5, statement_timeout_ms=5000
    )
    assert tuned["CONN_MAX_AGE"] == 600
    assert tuned["CONN_HEALTH_CHECKS"] is True
    assert tuned["OPTIONS"] == {
        "connect_timeout": 5,
        "options": "-c statement_timeout=5000",
        **envconfig.POSTGRES_TCP_OPTIONS,
    }
    assert tuned["ENGINE"] == "app.dbbackends.bounded_postgresql"
    assert tuned["REPLY_TIMEOUT_SECONDS"] == 5.5
    assert parsed == {"ENGINE": "django.db.backends.postgresql", "NAME": "todos"}


def test_it_bounds_postgres_replies_as_configured_and_instruments_the_bounded_backend() -> None:
    """An explicit reply timeout wins; telemetry swaps in the metered, equally bounded engine."""
    tuned = envconfig.tune_database(
        {"ENGINE": "django.db.backends.postgresql", "NAME": "todos"},
        conn_max_age=600,
        connect_timeout_s=3,
        statement_timeout_ms=3000,
        reply_timeout_s=1.25,
        instrumented=True,
    )
    assert tuned["REPLY_TIMEOUT_SECONDS"] == 1.25
    assert tuned["ENGINE"] == "app.dbbackends.postgresql"


def test_it_keeps_postgres_options_given_in_the_url() -> None:
    """Options from ``DATABASE_URL`` query parameters win over the tuned defaults."""
    parsed = {
        "ENGINE": "django.db.backends.postgresql",
        "OPTIONS": {"connect_timeout": 1, "sslmode": "require"},
    }
    tuned = envconfig.tune_database(
        parsed, conn_max_age=60, connect_timeout_s=5, statement_timeout_ms=100
    )
    assert tuned["OPTIONS"] == {
        "connect_timeout": 1,
        "sslmode": "require",
        "options": "-c statement_timeout=100",
        **envconfig.POSTGRES_TCP_OPTIONS,
    }
    assert parsed["OPTIONS"] == {"connect_timeout": 1, "sslmode": "require"}


def test_it_tunes_sqlite_for_several_gunicorn_workers() -> None:
    """WAL, immediate transactions and a busy timeout of at least a second."""
    tuned = envconfig.tune_database(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/todos/db.sqlite3"},
        conn_max_age=600,
        connect_timeout_s=0,
        statement_timeout_ms=5000,
    )
    assert tuned["CONN_MAX_AGE"] == 600
    assert tuned["CONN_HEALTH_CHECKS"] is True
    assert tuned["OPTIONS"]["timeout"] == 1
    assert tuned["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in tuned["OPTIONS"]["init_command"]
    assert "statement_timeout" not in str(tuned["OPTIONS"])


def test_it_leaves_other_database_engines_untouched() -> None:
    """Only PostgreSQL and SQLite get tuning; other engines keep Django's defaults."""
    tuned = envconfig.tune_database(
        {"ENGINE": "django.db.backends.mysql", "NAME": "todos"},
        conn_max_age=600,
        connect_timeout_s=5,
        statement_timeout_ms=5000,
    )
    assert tuned == {"ENGINE": "django.db.backends.mysql", "NAME": "todos", "OPTIONS": {}}


@pytest.mark.parametrize(
    ("enabled", "expected"), [(True, ("HTTP_X_FORWARDED_PROTO", "https")), (False, None)]
)
def test_it_trusts_the_forwarded_proto_header_only_when_enabled(
    enabled: bool, expected: tuple[str, str] | None
) -> None:
    """Behind a TLS-terminating proxy only: trusting it elsewhere lets clients fake HTTPS."""
    assert envconfig.proxy_ssl_header(enabled) == expected
