"""Shared pieces of the reliability tests: gunicorn's processes, timed calls and client load.

- ``processes(server)``: the master's and the workers' pids and RSS, as the master's metrics
  endpoint reports them (``process_resident_memory_bytes{pid, role}``).
- ``wait_for_workers``: poll until the master runs ``count`` workers (optionally without one).
- ``call``: one HTTP request that never raises; connection errors become an ``Outcome`` too.
- ``Load``: client threads repeating a request function until stopped, every outcome kept
  with its start time, so a test can split them into before, during and after a fault.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, Self

from tests.support import prometheus
from tests.support.http import http
from tests.support.lifecycle import Background
from tests.support.prometheus import Scrape, scrape
from tests.support.servers import Server
from tests.support.waiting import poll

RSS = "process_resident_memory_bytes"
MIB = 1024 * 1024


# ------------------------------------------------------------------ gunicorn's processes
@dataclass(frozen=True)
class Processes:
    """gunicorn's master and workers (pids) and their resident memory in bytes."""

    master: int
    workers: frozenset[int]
    rss: Mapping[int, float]

    def worker_rss_mib(self) -> dict[int, float]:
        """Each worker's RSS in MiB."""
        return {pid: self.rss[pid] / MIB for pid in sorted(self.workers)}


def processes_of(metrics: Scrape) -> Processes:
    """The processes one scrape of the master's metrics endpoint names."""
    masters = metrics.matching(RSS, role="master")
    assert len(masters) == 1, masters
    return Processes(
        master=int(masters[0].labels["pid"]),
        workers=frozenset(metrics.worker_pids()),
        rss={int(s.labels["pid"]): float(s.value) for s in metrics.matching(RSS)},
    )


def processes(server: Server) -> Processes:
    """Scrape the master's metrics endpoint for its processes."""
    return processes_of(scrape(server))


def wait_for_workers(
    server: Server, count: int, *, without: int | None = None, timeout: float = 30.0
) -> Processes:
    """Poll until the master runs ``count`` workers, none of them ``without``."""
    return processes_of(
        prometheus.wait_for_workers(server, count, without=without, timeout=timeout)
    )


# ------------------------------------------------------------------ timed calls
@dataclass(frozen=True)
class Outcome:
    """One request: when it started (monotonic s), how long it took, and its answer or error."""

    started: float
    elapsed_s: float
    status: int | None = None  # None: no HTTP answer (connection refused, reset, timeout)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)  # what the client sent, if any

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def call(
    method: str,
    url: str,
    *,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Outcome:
    """Send one request with ``tests.support.http.http``; never raise, time it."""
    started = time.monotonic()
    try:
        response = http(method, url, json_body=json_body, headers=headers, timeout=timeout)
    except (OSError, HTTPException) as error:
        return Outcome(
            started=started,
            elapsed_s=time.monotonic() - started,
            error=f"{type(error).__name__}: {error}",
            payload=json_body or {},
        )
    return Outcome(
        started=started,
        elapsed_s=time.monotonic() - started,
        status=response.status,
        body=response.body,
        headers=dict(response.headers.items()),
        payload=json_body or {},
    )


# ------------------------------------------------------------------ client load
class Load(Background):
    """``threads`` client threads calling ``request(thread, n)`` until ``stop()`` or exit.

    Each thread runs at most ``max_requests`` calls (a bound even if a test forgets to stop);
    ``outcomes`` holds every ``Outcome`` returned, in completion order.
    """

    def __init__(
        self,
        request: Callable[[int, int], Outcome],
        *,
        threads: int,
        max_requests: int = 10_000,
        pause_s: float = 0.0,
    ) -> None:
        self._request = request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []
        self._max_requests = max_requests
        self._pause_s = pause_s
        self._threads = [
            threading.Thread(target=self._run, args=(number,), name=f"load-{number}", daemon=True)
            for number in range(threads)
        ]

    @property
    def outcomes(self) -> list[Outcome]:
        """A copy of the outcomes so far."""
        with self._lock:
            return list(self._outcomes)

    def since(self, moment: float) -> list[Outcome]:
        """The outcomes of requests started at or after ``moment`` (time.monotonic())."""
        return [outcome for outcome in self.outcomes if outcome.started >= moment]

    def wait_for(self, count: int, *, after: float = 0.0, timeout: float = 30.0) -> None:
        """Poll until ``count`` requests started at or after ``after`` have finished."""
        poll(
            lambda: len(self.since(after)),
            lambda done: done >= count,
            timeout=timeout,
            interval=0.05,
            failure=lambda done: f"only {done} of {count} requests finished in {timeout:g} s",
        )

    def start(self) -> Self:
        """Start the client threads."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> list[Outcome]:
        """Stop the threads (each finishes its current request) and return every outcome."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        assert not alive, f"client threads still running after {timeout:g} s: {alive}"
        return self.outcomes

    def _run(self, number: int) -> None:
        for n in range(self._max_requests):
            if self._stop.is_set():
                return
            outcome = self._request(number, n)
            with self._lock:
                self._outcomes.append(outcome)
            if self._pause_s:
                self._stop.wait(self._pause_s)


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]
