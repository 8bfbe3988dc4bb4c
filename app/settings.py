"""Django settings for the todo service: the only settings module, driven by the environment.

Every value comes from an environment variable (see README.md, "Configuration"). Any variable
can also be given as ``<NAME>_FILE`` pointing at a file, for secrets mounted by Kubernetes or
Docker. Outside debug mode nothing secret has a default: the process refuses to start.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from app import __version__, envconfig
from app.cache.config import DEFAULT_KEY_PREFIX, cache_config, with_circuit_breaker
from app.telemetry import logging as telemetry_logging
from app.telemetry.prometheus.buckets import LATENCY_BUCKETS
from app.telemetry.setup import telemetry_enabled

# Lets generic classes such as ModelAdmin[Todo] be subscripted at runtime (typing).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = envconfig.Env(error=ImproperlyConfigured)

# prometheus_client's multiprocess mode writes a file per metric on creation; a directory named
# here but not yet made (e.g. for a migration Job) would crash every command.
if _multiproc_dir := env.string("PROMETHEUS_MULTIPROC_DIR", ""):
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)

# ------------------------------------------------------------------ core
DEBUG: bool = env.boolean("DJANGO_DEBUG", False)

if DEBUG:
    SECRET_KEY: str = env.string(
        "DJANGO_SECRET_KEY", "django-insecure-local-development-only-never-deploy-this"
    )
    ALLOWED_HOSTS: list[str] = env.strings(
        "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"]
    )
else:
    try:
        SECRET_KEY = env.string("DJANGO_SECRET_KEY")
        ALLOWED_HOSTS = env.strings("DJANGO_ALLOWED_HOSTS")
    except ImproperlyConfigured as missing:
        raise ImproperlyConfigured(
            f"{missing}. With DJANGO_DEBUG off, DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are "
            "required (use DJANGO_DEBUG=true for a throwaway local setup)."
        ) from None
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name at least one host.")

SERVICE_VERSION = __version__
# TELEMETRY_ENABLED=false: no metrics, traces, errors or access log (the benchmark's bare mode).
TELEMETRY_ENABLED = telemetry_enabled(env)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "app.accounts",
    "app.todos",
    "app.exports",
    "app.faults",
    "app.graphql",
]
if TELEMETRY_ENABLED:
    INSTALLED_APPS.append("django_prometheus")

# Telemetry middlewares wrap everything else: metrics and the access event see every response.
_TELEMETRY_OUTER = (
    [
        # The server span (when tracing is set up): active for everything inside it.
        "app.telemetry.tracing.http_spans.ServerSpanMiddleware",
        "app.telemetry.prometheus.middleware.RequestMetricsMiddleware",
        "app.telemetry.access.RequestTelemetryMiddleware",
    ]
    if TELEMETRY_ENABLED
    else []
)
_TELEMETRY_INNER = (
    ["app.telemetry.prometheus.middleware.ViewMetricsMiddleware"] if TELEMETRY_ENABLED else []
)

MIDDLEWARE = [
    # Probes answer first: kubelet sends the pod IP as Host, which ALLOWED_HOSTS would refuse,
    # and plain-HTTP probes must not be redirected to HTTPS.
    "app.telemetry.health.HealthProbeMiddleware",
    *_TELEMETRY_OUTER,
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Before CommonMiddleware (django-cors-headers' rule), so preflights get their answer.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Faults fire after routing, inside the metrics middlewares, so injected errors are counted.
    "app.faults.middleware.FaultInjectionMiddleware",
    *_TELEMETRY_INNER,
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------ database
# DATABASE_URL: postgres://user:pass@host:5432/name or sqlite:////abs/path.db (the default).
# https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
_STATEMENT_TIMEOUT_MS = env.integer("DATABASE_STATEMENT_TIMEOUT_MS", 3000)
DATABASES = {
    "default": envconfig.tune_database(
        environ.Env.db_url_config(
            env.string("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
        ),
        conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 600),
        connect_timeout_s=env.integer("DATABASE_CONNECT_TIMEOUT", 3),
        statement_timeout_ms=_STATEMENT_TIMEOUT_MS,
        # How long a request waits for any reply before the connection is dropped (503).
        reply_timeout_s=env.duration("DATABASE_REPLY_TIMEOUT", _STATEMENT_TIMEOUT_MS / 1000 + 0.5),
        instrumented=TELEMETRY_ENABLED,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------ cache
# REDIS_URL unset: per-process memory (throttle counters are then per gunicorn worker).
# Redis unreachable: the cache answers misses and drops writes instead of failing requests,
# and tries Redis again every CACHE_RETRY_SECONDS (app/cache: a circuit breaker per worker).
_REDIS_URL = env.string("REDIS_URL", "") or None
CACHES = {
    "default": with_circuit_breaker(
        cache_config(
            _REDIS_URL,
            timeout_s=env.duration("REDIS_TIMEOUT_SECONDS", 1.0),
            instrumented=TELEMETRY_ENABLED,
            key_prefix=env.string("CACHE_KEY_PREFIX", DEFAULT_KEY_PREFIX),
        ),
        retry_seconds=env.duration("CACHE_RETRY_SECONDS", 5.0),
    )
}

# Cached todo reads and their ETags (app/todos/response_cache.py), for this many seconds; 0 off.
# Only with a shared cache (REDIS_URL): in per-process memory each worker would keep its own
# copies (hit ratio divided by the workers) and evict the throttle counters stored there.
RESPONSE_CACHE_SECONDS: int = (
    env.integer("RESPONSE_CACHE_SECONDS", 60, minimum=0) if _REDIS_URL else 0
)

# ------------------------------------------------------------------ auth
# Argon2id (OWASP's m=19 MiB, t=2, p=1: app/accounts/hashers.py) for every new password; the
# PBKDF2 hashes stored before still verify, and Django re-hashes them with Argon2id at the next
# successful login.
PASSWORD_HASHERS = [
    "app.accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.integer("JWT_ACCESS_TOKEN_LIFETIME", 300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.integer("JWT_REFRESH_TOKEN_LIFETIME", 86400)),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,  # a write per login would make token bursts contend
}

# ------------------------------------------------------------------ REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, joining the version of the user's todos (for the response cache)
        "app.api.authentication.TodoVersionJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["app.api.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's throttles, counting per worker while Redis is down (app/api/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "app.api.throttling.AnonRateThrottle",
        "app.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": envconfig.throttle_rate(
            env.string("THROTTLE_ANON_RATE", "100/minute"), name="THROTTLE_ANON_RATE"
        ),
        "user": envconfig.throttle_rate(
            env.string("THROTTLE_USER_RATE", "1000/minute"), name="THROTTLE_USER_RATE"
        ),
        "auth": envconfig.throttle_rate(
            env.string("THROTTLE_AUTH_RATE", "20/minute"), name="THROTTLE_AUTH_RATE"
        ),
        # Failed logins per submitted username, from any address (app/accounts/throttling.py).
        "login_user": envconfig.throttle_rate(
            env.string("THROTTLE_LOGIN_USER_RATE", "5/minute"),
            name="THROTTLE_LOGIN_USER_RATE",
        ),
    },
    # Proxies in front of the app that append to X-Forwarded-For: the client address for the
    # per-IP throttles is the one the last of them saw. 0 (the default) trusts no such header,
    # so clients cannot dodge the throttles by sending their own.
    "NUM_PROXIES": env.integer("DJANGO_NUM_PROXIES", 0),
    "DEFAULT_PAGINATION_CLASS": "app.api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "app.api.schema.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "app.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Todo API",
    "DESCRIPTION": (
        "Per-user todos behind JWT bearer auth. Get a token from `POST /api/auth/token/` "
        'and send `Authorization: Bearer <access>`. Errors are JSON: `{"detail": ...}` or '
        'field errors `{"<field>": ["message"]}`.'
    ),
    "VERSION": SERVICE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Operations are tagged by their first path segment under this prefix (todos, auth...): set,
    # because /graphql/ (left out of the schema) would otherwise shorten the common prefix to /.
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Enum components named for what they are, not "StatusEnum"/"FormatEnum".
    "ENUM_NAME_OVERRIDES": {
        "ExportStatusEnum": "app.exports.models.ExportStatus",
        "ExportFormatEnum": "app.exports.models.ExportFormat",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default hook
        "app.api.schema_hooks.add_probe_paths",  # /healthz and /readyz, outside DRF
        "app.api.schema_hooks.describe_jwt_scheme",
    ],
}

# ------------------------------------------------------------------ exports (background jobs)
# Celery itself is configured from the environment by app/jobs/config.py (broker, delivery).
EXPORT_STORAGE_DIR = Path(env.string("EXPORT_STORAGE_DIR", str(BASE_DIR / "var" / "exports")))
EXPORT_RETENTION_HOURS: float = env.number("EXPORT_RETENTION_HOURS", 24.0, low=0.0001)
# A run's hard limit (prefork pool); a job unfinished this long after it started, plus
# EXPORT_STALE_GRACE_SECONDS, is taken for dead and published again.
EXPORT_TIME_LIMIT_SECONDS: int = env.integer("EXPORT_TIME_LIMIT_SECONDS", 300, minimum=1)
EXPORT_STALE_SECONDS: float = EXPORT_TIME_LIMIT_SECONDS + env.duration(
    "EXPORT_STALE_GRACE_SECONDS", 30.0
)
# Slows every export run down (demos, and the worker-kill test); 0: off.
FAULT_EXPORT_DELAY_MS: int = env.integer("FAULT_EXPORT_DELAY_MS", 0, minimum=0)

# ------------------------------------------------------------------ GraphQL (app/graphql)
# Limits checked before a GraphQL operation runs (a QUERY_TOO_COMPLEX error, never a 500):
# nesting depth, aliases, tokens of the document, and its estimated cost (fields, multiplied
# by the page size under a list). Introspection follows debug unless set (off in production).
GRAPHQL_MAX_DEPTH: int = env.integer("GRAPHQL_MAX_DEPTH", 6, minimum=1)
GRAPHQL_MAX_ALIASES: int = env.integer("GRAPHQL_MAX_ALIASES", 10, minimum=0)
GRAPHQL_MAX_TOKENS: int = env.integer("GRAPHQL_MAX_TOKENS", 2000, minimum=1)
GRAPHQL_MAX_COMPLEXITY: int = env.integer("GRAPHQL_MAX_COMPLEXITY", 1000, minimum=1)
GRAPHQL_INTROSPECTION: bool = env.boolean("GRAPHQL_INTROSPECTION", DEBUG)

# ------------------------------------------------------------------ request limits
# Largest accepted request body (bigger ones get 413); todos are tiny.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 262_144)

# ------------------------------------------------------------------ security / TLS
# Secure by default outside debug; a plain-HTTP local run (`make run`) turns these off.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
SECURE_PROXY_SSL_HEADER = envconfig.proxy_ssl_header(
    env.boolean("DJANGO_SECURE_PROXY_SSL_HEADER", False)
)
SECURE_SSL_REDIRECT: bool = env.boolean("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS: int = env.integer("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.boolean(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG
)
# Preloading is a commitment you make by submitting your domain; opt in explicitly.
SECURE_HSTS_PRELOAD: bool = env.boolean("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE: bool = env.boolean("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE: bool = env.boolean("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
# Only the admin's server-rendered forms use CSRF (the API takes bearer tokens, no cookies):
# no script needs to read either cookie.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS: list[str] = env.strings("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# ------------------------------------------------------------------ CORS (django-cors-headers)
# Browser clients on the listed origins (comma-separated, e.g. https://app.example.com) may
# call the API and GraphQL with a bearer token; none by default. Never the admin (session
# cookies) and no credentials: tokens travel in Authorization, which must be allowed.
CORS_ALLOWED_ORIGINS: list[str] = env.strings("DJANGO_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/(api|graphql)/"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ("authorization", "content-type", "if-none-match", "x-request-id")
# Readable by the calling script: the request id to quote in a bug report, when to retry after
# a 429 or 503, and the ETag of a cached read to revalidate with If-None-Match.
CORS_EXPOSE_HEADERS = ("X-Request-ID", "Retry-After", "ETag")
CORS_PREFLIGHT_MAX_AGE = 3600
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# ------------------------------------------------------------------ i18n
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# ------------------------------------------------------------------ static files
# Served by WhiteNoise from STATIC_ROOT (run `collectstatic`): the admin and the Swagger UI
# work with debug off and without internet access.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "app.staticfiles.GzipManifestStaticFilesStorage"},
}

# ------------------------------------------------------------------ logging
# structlog over the standard library: JSON lines (LOG_FORMAT=json, or stdout not a TTY) or
# console lines; gunicorn uses the same configuration (gunicorn.conf.py).
LOG_LEVEL: str = env.string("LOG_LEVEL", "INFO").upper()
LOGGING = telemetry_logging.logging_config(level=LOG_LEVEL)
telemetry_logging.configure_structlog(level=LOG_LEVEL)

# ------------------------------------------------------------------ metrics
# django-prometheus reads these when first imported (in the workers, after settings load).
PROMETHEUS_LATENCY_BUCKETS = LATENCY_BUCKETS
# Not PROMETHEUS_EXPORT_MIGRATIONS: it queries the database while a worker boots, so a
# database outage would stop workers from starting at all. The same gauges are computed in the
# background instead (app/telemetry/prometheus/migrations.py, MIGRATIONS_REFRESH_SECONDS).
