"""A per-process circuit breaker for the Redis cache: after a failure, stop trying for a while.

Closed (the normal state), every cache call goes to Redis. The first connection error or
timeout opens the circuit: for ``retry_seconds`` every call is answered without Redis at once,
so no request pays a timeout while Redis is known to be down. Then one call is let through as
a probe: if it succeeds the circuit closes, if it fails it stays open for another interval.

Each gunicorn worker has its own breakers (nothing is shared across processes), one per Redis
location, shared by the per-thread cache objects Django makes. The outage is visible as:

- ``cache_degraded`` (warning), at most once per ``retry_seconds`` per worker while it lasts,
  and ``cache_recovered`` (info) when the circuit closes; both carry the worker's ``pid``;
- ``todos_cache_bypassed_total``, the operations answered without Redis;
- ``todos_cache_degraded``, 1 while a worker's circuit is open (``livemax`` over workers).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable

import structlog

from app.cache.metrics import cache_bypassed, cache_degraded

logger = structlog.get_logger(__name__)

Clock = Callable[[], float]


class CircuitBreaker:
    """Decides whether a cache call may go to Redis, and reports outages once per interval.

    Thread-safe; the closed fast path (``allow`` and ``record_success`` while healthy) reads
    one attribute and takes no lock.
    """

    def __init__(self, name: str, *, retry_seconds: float, clock: Clock = time.monotonic) -> None:
        if not retry_seconds > 0:
            raise ValueError(f"retry_seconds must be above 0, got {retry_seconds!r}")
        self.name = name
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._opened_at = 0.0
        self._retry_at = 0.0
        self._next_warning_at = float("-inf")
        self._last_error = ""
        self._bypassed_in_outage = 0

    @property
    def is_open(self) -> bool:
        """True while Redis is considered down (calls are bypassed, except the probes)."""
        return self._open

    @property
    def last_error(self) -> str:
        """The exception class name of the latest failure (empty before any)."""
        return self._last_error

    def allow(self) -> bool:
        """True when the caller should try Redis: the circuit is closed, or a probe is due.

        Only one caller per interval gets the probe; the others keep bypassing until it ends.
        """
        if not self._open:
            return True
        with self._lock:
            if not self._open:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_seconds
            return True

    def record_success(self) -> None:
        """A call reached Redis: close the circuit if it was open (logs ``cache_recovered``)."""
        if not self._open:
            return
        with self._lock:
            if not self._open:
                return
            self._open = False
            down_for = self._clock() - self._opened_at
            bypassed = self._bypassed_in_outage
        cache_degraded.set(0)
        logger.info(
            "cache_recovered",
            cache=self.name,
            down_for_s=round(down_for, 3),
            bypassed=bypassed,
            pid=os.getpid(),
        )

    def record_failure(self, error: BaseException) -> None:
        """A call could not reach Redis: open the circuit (again) for ``retry_seconds``.

        Logs ``cache_degraded`` when no such line was written in the last interval.
        """
        with self._lock:
            now = self._clock()
            opened = not self._open
            if opened:
                self._open = True
                self._opened_at = now
                self._bypassed_in_outage = 0
            self._retry_at = now + self.retry_seconds
            self._last_error = type(error).__name__
            warn = now >= self._next_warning_at
            if warn:
                self._next_warning_at = now + self.retry_seconds
            down_for = now - self._opened_at
        if opened:
            cache_degraded.set(1)
        if warn:
            logger.warning(
                "cache_degraded",
                cache=self.name,
                error=self._last_error,
                down_for_s=round(down_for, 3),
                retry_in_s=self.retry_seconds,
                pid=os.getpid(),
            )

    def record_bypass(self) -> None:
        """One cache operation was answered without Redis (a miss, or a dropped write)."""
        with self._lock:
            self._bypassed_in_outage += 1
        cache_bypassed.inc()


_CREDENTIALS = re.compile(r"(?<=://)[^@/]*@")


def display_name(location: str) -> str:
    """``location`` without credentials (``redis://:secret@host`` → ``redis://host``), for logs."""
    return _CREDENTIALS.sub("", location)


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(location: str, *, retry_seconds: float) -> CircuitBreaker:
    """This process's breaker for the Redis at ``location`` (made on first use).

    Django builds a cache object per thread; they share the breaker, so one thread's failure
    spares the others the timeout.
    """
    with _breakers_lock:
        breaker = _breakers.get(location)
        if breaker is None or breaker.retry_seconds != retry_seconds:
            breaker = CircuitBreaker(display_name(location), retry_seconds=retry_seconds)
            _breakers[location] = breaker
        return breaker
