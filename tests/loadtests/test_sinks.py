"""The benchmarks' sinks count what the exporters send them (OTLP spans, Sentry envelope items)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from loadtests import sinks


def otlp_request(spans: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for n in range(spans):
        scope.spans.add(name=f"span {n}")
    body: bytes = request.SerializeToString()
    return body


def envelope() -> bytes:
    transaction = json.dumps({"type": "transaction", "transaction": "GET /"}).encode()
    report = json.dumps({"discarded_events": []}).encode()
    return b"\n".join(
        [
            json.dumps({"event_id": "abc"}).encode(),
            json.dumps({"type": "transaction", "length": len(transaction)}).encode(),
            transaction,
            json.dumps({"type": "client_report"}).encode(),
            report,
            b"",
        ]
    )


def test_otlp_trace_exports_are_counted_in_spans() -> None:
    assert sinks.decode_items("/v1/traces", otlp_request(3), "") == {"spans": 3}
    assert sinks.decode_items("/v1/traces", gzip.compress(otlp_request(2)), "gzip") == {"spans": 2}
    assert sinks.decode_items("/v1/metrics", b"\x00\x01", "") == {}


@pytest.mark.parametrize("encoding", ["", "gzip", "br"])
def test_sentry_envelopes_are_counted_per_item_type(encoding: str) -> None:
    compress: Callable[[bytes], bytes] = bytes
    if encoding == "gzip":
        compress = gzip.compress
    elif encoding == "br":  # Sentry's choice when Brotli is installed (Locust brings it)
        compress = pytest.importorskip("brotli").compress

    items = sinks.decode_items("/api/1/envelope/", compress(envelope()), encoding)

    assert items == {"transaction": 1, "client_report": 1}


def test_a_body_that_cannot_be_decoded_is_counted_not_fatal() -> None:
    assert sinks.decode_items("/v1/traces", b"not gzip", "gzip") == {"undecodable": 1}
    assert sinks.decode_items("/api/1/envelope/", b"{}\nnot json\n", "") == {"undecodable": 1}


def test_sink_stats_count_requests_bytes_and_items_per_path() -> None:
    stats = sinks.SinkStats()
    stats.add("/v1/traces", 100, {"spans": 3})
    stats.add("/v1/traces", 50, {"spans": 2})
    stats.add("/v1/metrics", 10, {})

    assert stats.snapshot() == {
        "/v1/metrics": {"requests": 1, "bytes": 10, "items": {}},
        "/v1/traces": {"requests": 2, "bytes": 150, "items": {"spans": 5}},
    }
    assert stats.item("spans") == 5
    assert stats.item("transaction") == 0
