"""The one reader of the environment: typed values, one rule per type, errors naming the variable.

Django-free, so gunicorn's master (``gunicorn.conf.py``), the settings and the telemetry and
fault modules all read variables the same way:

- Every variable ``NAME`` can instead be given as ``NAME_FILE``, the path of a file holding the
  value (secrets mounted by Kubernetes or Docker); the file wins, its trailing newline dropped.
- Unset or blank means "use the default".
- Booleans: ``true/false/1/0/yes/no/on/off`` (any case, trimmed); anything else is an error.
- Integers, numbers and durations (seconds): a bad value is an error naming the variable and
  the value, never a bare ``ValueError`` from ``int()`` or ``float()``.

``Env(error=...)`` raises another exception type: settings use ``ImproperlyConfigured`` and
``gunicorn.conf.py`` ``SystemExit``, so a bad value stops start-up with one line naming it.
The settings-value builders at the end (throttle rates, the database dictionary) turn values
already read into Django settings.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
BOOLEAN_WORDS = "true/false/1/0/yes/no/on/off"


class EnvError(ValueError):
    """An environment variable is missing or holds a value its type does not accept."""


class Env:
    """Typed readers over ``environ`` (``os.environ`` by default, read at each call).

    Errors are raised as ``error(message)``, the message naming the variable and the bad value.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        error: type[BaseException] = EnvError,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._error = error

    def _fail(self, message: str) -> BaseException:
        return self._error(message)

    def error(self, message: str) -> BaseException:
        """The exception this reader raises, for checks built on top of its values."""
        return self._error(message)

    def raw(self, name: str) -> str | None:
        """``NAME_FILE``'s contents (trailing newline dropped) if set, else ``NAME``; ``None``
        when unset or blank."""
        path = self._environ.get(name + "_FILE", "").strip()
        if path:
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as error:
                raise self._fail(f"{name}_FILE: cannot read {path!r} ({error.strerror})") from None
        else:
            value = self._environ.get(name, "")
        return value if value.strip() else None

    def string(self, name: str, default: str | None = None) -> str:
        """The value as given; without a default the variable is required."""
        value = self.raw(name)
        if value is not None:
            return value
        if default is None:
            raise self._fail(f"Set the {name} environment variable")
        return default

    def strings(self, name: str, default: list[str] | None = None) -> list[str]:
        """A comma-separated list, items trimmed, empty items dropped."""
        value = self.raw(name)
        if value is None:
            if default is None:
                raise self._fail(f"Set the {name} environment variable")
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def choices(self, name: str, allowed: tuple[str, ...]) -> list[str]:
        """A comma-separated list of words from ``allowed`` (any case, trimmed, lowercased);
        empty when unset; any other word is an error."""
        words = [item.lower() for item in self.strings(name, [])]
        if any(word not in allowed for word in words):
            raise self._fail(f"{name}: expected {'/'.join(allowed)}, got {self.raw(name)!r}")
        return words

    def first(self, *names: str) -> str | None:
        """The value of the first of ``names`` that is set (signal-specific names go first)."""
        return next((value for name in names if (value := self.raw(name)) is not None), None)

    def boolean(self, name: str, default: bool) -> bool:
        """``true/false/1/0/yes/no/on/off`` in any case; anything else is an error."""
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise self._fail(f"{name}: expected {BOOLEAN_WORDS}, got {value!r}")

    def _converted(self, name: str, convert: Callable[[str], Any], expected: str) -> Any:
        """``convert(value)``, ``None`` when unset; a value it refuses is an error."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            return convert(value.strip())
        except ValueError:
            raise self._fail(f"{name}: expected {expected}, got {value!r}") from None

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        """A whole number, at least ``minimum`` when given."""
        number: int | None = self._converted(name, int, "an integer")
        if number is None:
            return default
        if minimum is not None and number < minimum:
            raise self._fail(f"{name}: expected an integer >= {minimum}, got {self.raw(name)!r}")
        return number

    def number(
        self,
        name: str,
        default: float,
        *,
        low: float = -math.inf,
        high: float = math.inf,
    ) -> float:
        """A finite number between ``low`` and ``high`` (inclusive)."""
        number: float | None = self._converted(name, float, "a number")
        if number is None:
            return default
        if not math.isfinite(number):
            raise self._fail(f"{name}: expected a finite number, got {self.raw(name)!r}")
        if not low <= number <= high:
            raise self._fail(
                f"{name}: expected a number between {low:g} and {high:g}, got {self.raw(name)!r}"
            )
        return number

    def duration(self, name: str, default: float) -> float:
        """A duration in seconds: a finite number >= 0 (``1``, ``0.25``)."""
        expected = "a duration in seconds (>= 0)"
        seconds: float | None = self._converted(name, float, expected)
        if seconds is None:
            return default
        if not math.isfinite(seconds) or seconds < 0:
            raise self._fail(f"{name}: expected {expected}, got {self.raw(name)!r}")
        return seconds


# The process environment, errors raised as EnvError (for code that runs after start-up).
ENV = Env()


# ------------------------------------------------------------------ settings values
def _improperly_configured(message: str) -> Exception:
    """Django's start-up error, imported only when needed: the readers above stay Django-free."""
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    return ImproperlyConfigured(message)


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def throttle_rate(value: str, *, name: str) -> str | None:
    """Validate a DRF throttle rate (``N/period``); ``off`` or ``none`` disables the throttle."""
    cleaned = value.strip().lower()
    if cleaned in {"off", "none", ""}:
        return None
    if not _RATE.match(cleaned):
        raise _improperly_configured(
            f"{name}={value!r} is not a DRF rate such as '100/minute' (or 'off')."
        )
    return cleaned


def tune_database(
    config: dict[str, Any],
    *,
    conn_max_age: int,
    connect_timeout_s: int,
    statement_timeout_ms: int,
    reply_timeout_s: float | None = None,
    instrumented: bool = False,
) -> dict[str, Any]:
    """Add connection reuse and timeouts to a parsed ``DATABASE_URL``.

    PostgreSQL: persistent connections with health checks, a libpq connect timeout, a
    server-side statement timeout, TCP keepalives and ``tcp_user_timeout`` (a partition is
    noticed by the kernel), and a client-side bound on every reply (``reply_timeout_s``,
    default: the statement timeout plus half a second, so the server's own cancel comes first;
    ``app.dbbackends.replies``): a silent database fails a request in seconds.
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
        for key, value in POSTGRES_TCP_OPTIONS.items():
            options.setdefault(key, value)
        tuned["REPLY_TIMEOUT_SECONDS"] = (
            reply_timeout_s if reply_timeout_s is not None else statement_timeout_ms / 1000 + 0.5
        )
        tuned["ENGINE"] = _BOUNDED_POSTGRES
    elif engine.endswith("sqlite3"):
        tuned["CONN_MAX_AGE"] = conn_max_age
        tuned["CONN_HEALTH_CHECKS"] = True
        options.setdefault("timeout", max(connect_timeout_s, 1))
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    tuned["OPTIONS"] = options
    if instrumented and tuned.get("ENGINE") in _INSTRUMENTED_ENGINES:
        tuned["ENGINE"] = _INSTRUMENTED_ENGINES[tuned["ENGINE"]]
    return tuned


_BOUNDED_POSTGRES = "app.dbbackends.bounded_postgresql"
_INSTRUMENTED_ENGINES = {
    _BOUNDED_POSTGRES: "app.dbbackends.postgresql",
    "django.db.backends.sqlite3": "app.dbbackends.sqlite3",
}
# libpq's TCP settings: an idle connection to a partitioned server is found dead by keepalives
# within 10 + 3 x 5 s; data left unacknowledged for 5 s aborts the connection.
POSTGRES_TCP_OPTIONS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}


def proxy_ssl_header(enabled: bool) -> tuple[str, str] | None:
    """The header a TLS-terminating proxy sets, trusted only when the deployment says so."""
    return ("HTTP_X_FORWARDED_PROTO", "https") if enabled else None
