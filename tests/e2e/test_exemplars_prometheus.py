"""Trace exemplars from the real gunicorn deployment, as OpenMetrics and in a real Prometheus.

Requests carry a W3C ``traceparent`` with trace ids chosen here; the latency bucket each one
lands in must carry that trace id (and the server span's id) as an exemplar, first in the
master's OpenMetrics answer, then in Prometheus' exemplar storage after it scraped the
metrics port, which is what a Grafana "exemplars" toggle queries.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.samples import Sample

from tests.support.accounts import create_account
from tests.support.ports import HOST
from tests.support.prometheus import Prometheus, run_prometheus, scrape, scrape_config
from tests.support.servers import Server, run_server_on_new_database
from tests.support.telemetry import traced_get
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

BUCKET = "django_http_requests_latency_seconds_by_view_method_bucket"
TODO_LIST = {"view": "todo-list", "method": "GET"}
TRACED_REQUESTS = 5
EXEMPLAR_DEADLINE_S = 30.0
SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class TracedRequests:
    """A server that answered GET /api/todos/ for each trace id here (id → caller's span)."""

    server: Server
    parent_spans: dict[str, str]
    sent_after: float


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedRequests]:
    """The service under gunicorn, after a few todo-list requests with known trace ids."""
    with run_server_on_new_database({}, directory=tmp_path_factory.mktemp("exemplars")) as server:
        auth = create_account(server).headers
        sent_after = time.time()
        callers = [traced_get(server, auth) for _ in range(TRACED_REQUESTS)]
        parent_spans = {caller.trace_id: caller.span_id for caller in callers}
        yield TracedRequests(server, parent_spans, sent_after)


def _todo_list_exemplars(traced: TracedRequests) -> list[Sample]:
    """The todo-list latency buckets that carry an exemplar, from an OpenMetrics scrape."""
    buckets = scrape(traced.server, openmetrics=True).matching(BUCKET, **TODO_LIST)
    return [sample for sample in buckets if sample.exemplar is not None]


def test_the_metrics_endpoint_serves_the_requests_trace_ids_as_exemplars(
    traced: TracedRequests,
) -> None:
    """OpenMetrics: the bucket's exemplar names one of our traces and the server's span."""
    with_exemplars = poll(
        lambda: _todo_list_exemplars(traced),
        bool,
        timeout=EXEMPLAR_DEADLINE_S,
        failure=lambda _: (
            f"no exemplar on the todo-list buckets within {EXEMPLAR_DEADLINE_S:.0f} s:\n"
            f"{traced.server.log()}"
        ),
    )

    for sample in with_exemplars:  # only our requests reached this view
        assert sample.exemplar is not None
        trace_id = sample.exemplar.labels["trace_id"]
        span_id = sample.exemplar.labels["span_id"]
        assert trace_id in traced.parent_spans, sample
        assert SPAN_ID.match(span_id), sample
        assert span_id != traced.parent_spans[trace_id], "the caller's span, not the server's"
        assert sample.exemplar.value <= float(sample.labels["le"]), sample
        assert sample.exemplar.timestamp is not None
        observed_at = float(sample.exemplar.timestamp)
        assert traced.sent_after - 1 <= observed_at <= time.time() + 1, sample


def _stored_exemplars(prometheus: Prometheus, *, since: float) -> list[dict[str, Any]]:
    """Every exemplar Prometheus holds for the todo-list latency buckets, newest last."""
    selector = f'{BUCKET}{{view="todo-list",method="GET"}}'
    series = prometheus.api(
        "query_exemplars", query=selector, start=str(since - 60), end=str(time.time() + 60)
    )
    return [exemplar for item in series for exemplar in item["exemplars"]]


def _ours(traced: TracedRequests, stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored exemplars that name one of the traced requests."""
    return [e for e in stored if e["labels"].get("trace_id") in traced.parent_spans]


def test_prometheus_stores_the_exemplars_it_scrapes(traced: TracedRequests, tmp_path: Path) -> None:
    """A real Prometheus with exemplar storage, scraping the metrics port every second."""
    target = f"{HOST}:{traced.server.env['METRICS_PORT']}"
    with run_prometheus(
        scrape_config([target]), directory=tmp_path, features=["exemplar-storage"]
    ) as prometheus:
        stored = poll(
            lambda: _stored_exemplars(prometheus, since=traced.sent_after),
            lambda stored: bool(_ours(traced, stored)),
            timeout=EXEMPLAR_DEADLINE_S,
            interval=0.5,
            failure=lambda stored: (
                f"Prometheus stored none of our exemplars within {EXEMPLAR_DEADLINE_S:.0f} s"
                f" (stored: {stored}); targets: {prometheus.targets_report()}\n"
                f"{prometheus.log()}"
            ),
        )

    for exemplar in _ours(traced, stored):
        assert SPAN_ID.match(exemplar["labels"].get("span_id", "")), exemplar
        assert float(exemplar["value"]) > 0, exemplar
