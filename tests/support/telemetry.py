"""Helpers for the end-to-end telemetry tests: todos, trace context, log lines, metrics.

The server's JSON log lines are read back from ``Server.log_path``; spans and Sentry events
come from the real wire-format receivers in ``tests.support.receivers``.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.accounts import Account
from tests.support.http import Response, http
from tests.support.prometheus import scrape
from tests.support.receivers import OtlpReceiver, ReceivedSpan
from tests.support.servers import Server
from tests.support.waiting import poll

LOG_DEADLINE_S = 10.0
SPAN_DEADLINE_S = 15.0


# ------------------------------------------------------------------ todos
def create_todo(server: Server, account: Account, title: str = "trace me") -> int:
    """Create a todo for ``account`` and return its id."""
    created = http(
        "POST", f"{server.url}/api/todos/", json_body={"title": title}, headers=account.headers
    )
    assert created.status == 201, created
    return int(created.body["id"])


# ------------------------------------------------------------------ trace context
@dataclass(frozen=True)
class TraceParent:
    """A caller's W3C trace context: ids in lowercase hex and the ``traceparent`` value."""

    trace_id: str
    span_id: str

    @property
    def header(self) -> str:
        """``00-<trace id>-<span id>-01`` (sampled)."""
        return f"00-{self.trace_id}-{self.span_id}-01"


def new_traceparent() -> TraceParent:
    """A random, valid (non-zero) sampled trace context."""
    return TraceParent(trace_id=secrets.token_hex(16), span_id=secrets.token_hex(8))


def traced_get(
    server: Server, headers: Mapping[str, str], path: str = "/api/todos/"
) -> TraceParent:
    """GET ``path`` with ``headers`` and a fresh caller trace; assert 200, return the caller."""
    caller = new_traceparent()
    response = http("GET", f"{server.url}{path}", headers={**headers, "traceparent": caller.header})
    assert response.status == 200, response
    return caller


def new_request_id() -> str:
    """An ``X-Request-ID`` the service accepts as is, unique to the calling test."""
    return f"e2e-{secrets.token_hex(10)}"


def status_code_of(span: ReceivedSpan) -> Any:
    """The HTTP status attribute (``http.response.status_code``, the stable name)."""
    return span.attributes.get("http.response.status_code")


def db_system_of(span: ReceivedSpan) -> Any:
    """The database system (``db.system.name``, the stable name)."""
    return span.attributes.get("db.system.name")


def wait_for_server_span(
    receiver: OtlpReceiver, trace_id: str, *, children: int = 0
) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    """The SERVER span of trace ``trace_id`` once it and ``children`` child spans arrived."""

    def server_span(spans: Iterable[ReceivedSpan]) -> ReceivedSpan | None:
        found = [s for s in spans if s.trace_id == trace_id and s.kind == "SERVER"]
        return found[0] if len(found) == 1 else None

    def ready(spans: list[ReceivedSpan]) -> bool:
        span = server_span(spans)
        return span is not None and len(children_of(spans, span)) >= children

    spans = receiver.wait_for(ready, timeout=SPAN_DEADLINE_S)
    span = server_span(spans)
    assert span is not None
    return span, children_of(spans, span)


def children_of(spans: Iterable[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    """The spans whose parent is ``parent``."""
    return [
        s for s in spans if s.trace_id == parent.trace_id and s.parent_span_id == parent.span_id
    ]


# ------------------------------------------------------------------ logs
def _parsed_lines(server: Server) -> list[tuple[str, dict[str, Any] | None]]:
    """Each line of the server log with the JSON object it holds (None when it holds none)."""
    parsed_lines: list[tuple[str, dict[str, Any] | None]] = []
    for line in server.log().splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        parsed_lines.append((line, parsed if isinstance(parsed, dict) else None))
    return parsed_lines


def log_events(server: Server) -> list[dict[str, Any]]:
    """Every JSON object the server wrote, one a line (anything else is skipped)."""
    return [parsed for _, parsed in _parsed_lines(server) if parsed is not None]


def non_json_lines(server: Server) -> list[str]:
    """Lines of the server log that are not a JSON object."""
    return [line for line, parsed in _parsed_lines(server) if parsed is None]


def wait_for_log_events(
    server: Server,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    count: int = 1,
    timeout: float = LOG_DEADLINE_S,
) -> list[dict[str, Any]]:
    """Poll the log until at least ``count`` events match; return every match."""
    return poll(
        lambda: [event for event in log_events(server) if predicate(event)],
        lambda matches: len(matches) >= count,
        timeout=timeout,
        interval=0.05,
        failure=lambda matches: (
            f"{len(matches)} of {count} expected log event(s) within {timeout:g} s; "
            f"log tail:\n{server.log()[-4000:]}"
        ),
    )


def access_events(server: Server, request_id: str) -> list[dict[str, Any]]:
    """The ``request_finished`` events of one request, once at least one was written."""
    return wait_for_log_events(
        server,
        lambda e: e.get("event") == "request_finished" and e.get("request_id") == request_id,
    )


# ------------------------------------------------------------------ HTTP timing and metrics
def timed_get(url: str, headers: dict[str, str]) -> tuple[Response, float]:
    """GET ``url``; return the response and the wall time in milliseconds."""
    started = time.perf_counter()
    response = http("GET", url, headers=headers)
    return response, (time.perf_counter() - started) * 1000


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (inclusive method)."""
    if fraction == 0.5:
        return statistics.median(samples)
    cut_points = statistics.quantiles(samples, n=100, method="inclusive")
    return cut_points[round(fraction * 100) - 1]


def scrape_counter(server: Server, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The ``<name>_total`` samples of the server's metrics endpoint, keyed by labels."""
    return {
        tuple(sorted(sample.labels.items())): float(sample.value)
        for sample in scrape(server).matching(f"{name}_total")
    }


def wait_for_counter(
    server: Server,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    above: float = 0,
    timeout: float = 10.0,
) -> dict[tuple[tuple[str, str], ...], float]:
    """Scrape until counter ``name`` (its samples with ``labels``, summed) exceeds ``above``.

    Returns every sample of the counter from the last scrape.
    """
    wanted = set((labels or {}).items())
    return poll(
        lambda: scrape_counter(server, name),
        lambda samples: sum(v for key, v in samples.items() if wanted <= set(key)) > above,
        timeout=timeout,
        failure=lambda samples: (
            f"{name}_total{labels or ''} stayed at or below {above:g} for {timeout:g} s: {samples}"
        ),
    )
