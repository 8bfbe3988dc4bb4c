"""The fake backends in ``receivers.py`` decode what the real client libraries send.

Each test drives the real library in-process (OpenTelemetry SDK + OTLP/HTTP exporter, sentry-sdk)
against a receiver on a free port, without touching the libraries' global state.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
import sentry_sdk
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support.receivers import (
    HOST,
    BlackHole,
    OtlpReceiver,
    ReceivedSpan,
    SentryReceiver,
    parse_envelope,
)

pytestmark = pytest.mark.database_free

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")

# No proxies: requests go straight to 127.0.0.1 even when *_proxy variables are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float = 5.0) -> int:
    """POST raw bytes; return the status (4xx/5xx included)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)


def direct_session() -> requests.Session:
    """A requests session that ignores proxy environment variables."""
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def sentry() -> Iterator[SentryReceiver]:
    with SentryReceiver() as receiver:
        yield receiver


# ------------------------------------------------------------------ OTLP
def tracer_provider(endpoint: str, **exporter_options: Any) -> TracerProvider:
    """A private SDK provider exporting each span synchronously (not installed globally)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "receiver-test"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{endpoint}/v1/traces", session=direct_session(), **exporter_options
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans}


@pytest.mark.parametrize(
    "compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate]
)
def test_otlp_receiver_decodes_sdk_spans(otlp: OtlpReceiver, compression: Compression) -> None:
    provider = tracer_provider(otlp.endpoint, compression=compression, timeout=5)
    try:
        tracer = provider.get_tracer("receiver.tests")
        with tracer.start_as_current_span(
            "GET /api/todos/{id}/",
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": "GET", "http.response.status_code": 200},
        ) as server_span:
            with tracer.start_as_current_span(
                "SELECT todos_todo", kind=trace.SpanKind.CLIENT
            ) as client_span:
                client_span.set_attribute("db.system.name", "sqlite")
                client_span.set_attribute("db.cached", True)
                client_span.set_attribute("db.tags", ["a", "b"])
                client_span.set_attribute("db.ratio", 0.25)
            server_ids = server_span.get_span_context()
    finally:
        provider.shutdown()

    spans = by_name(otlp.wait_for(lambda received: len(received) >= 2, timeout=5))

    server, client = spans["GET /api/todos/{id}/"], spans["SELECT todos_todo"]
    assert (server.kind, client.kind) == ("SERVER", "CLIENT")
    assert server.trace_id == client.trace_id == f"{server_ids.trace_id:032x}"
    assert HEX32.match(server.trace_id)
    assert server.span_id == f"{server_ids.span_id:016x}"
    assert HEX16.match(server.span_id)
    assert HEX16.match(client.span_id)
    assert server.parent_span_id is None
    assert client.parent_span_id == server.span_id
    assert server.attributes == {"http.request.method": "GET", "http.response.status_code": 200}
    assert client.attributes == {
        "db.system.name": "sqlite",
        "db.cached": True,
        "db.tags": ["a", "b"],
        "db.ratio": 0.25,
    }
    assert server.resource["service.name"] == "receiver-test"
    assert server.resource["telemetry.sdk.language"] == "python"
    assert server.scope == "receiver.tests"
    assert server.status_code == client.status_code == "UNSET"
    assert 0 < server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns
    assert otlp.requests == 2  # SimpleSpanProcessor: one export per span


def test_otlp_receiver_records_span_status_and_exception_events(otlp: OtlpReceiver) -> None:
    provider = tracer_provider(otlp.endpoint, timeout=5)
    try:
        tracer = provider.get_tracer("receiver.tests")
        with (
            pytest.raises(RuntimeError),
            tracer.start_as_current_span("failing", kind=trace.SpanKind.INTERNAL),
        ):
            raise RuntimeError("kaput")
    finally:
        provider.shutdown()

    (span,) = otlp.wait_for(lambda received: len(received) >= 1, timeout=5)

    assert (span.kind, span.status_code) == ("INTERNAL", "ERROR")
    assert "kaput" in span.status_message
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "kaput"


def test_otlp_wait_for_times_out_with_what_was_received(otlp: OtlpReceiver) -> None:
    started = time.monotonic()

    with pytest.raises(AssertionError, match=r"(?s)0 request\(s\).*received 0 span\(s\)"):
        otlp.wait_for(lambda received: len(received) > 0, timeout=0.2)

    assert time.monotonic() - started < 2


def test_otlp_receiver_rejects_undecodable_bodies_loudly() -> None:
    receiver = OtlpReceiver()
    statuses: list[int] = []

    def send_bad_gzip() -> None:
        with receiver:
            headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
            statuses.append(post(receiver.traces_endpoint, b"not gzip", headers))

    with pytest.raises(AssertionError, match=r"rejected requests.*BadGzipFile"):
        send_bad_gzip()

    assert statuses == [400]
    assert receiver.spans == []
    assert receiver.requests == 0


# ------------------------------------------------------------------ Sentry
def sentry_client(dsn: str, **options: Any) -> sentry_sdk.Client:
    """A client with no integrations, so nothing global is patched; never bound globally."""
    return sentry_sdk.Client(
        dsn=dsn,
        default_integrations=False,
        auto_enabling_integrations=False,
        http_proxy="",
        https_proxy="",
        environment="test",
        release="receiver-test@1",
        **options,
    )


@pytest.mark.parametrize(
    ("experiments", "content_encoding"),
    [
        ({"transport_compression_algo": "gzip"}, "gzip"),
        ({"transport_compression_level": 0}, "identity"),
    ],
)
def test_sentry_receiver_collects_a_captured_exception(
    sentry: SentryReceiver, experiments: dict[str, Any], content_encoding: str
) -> None:
    client = sentry_client(sentry.dsn, _experiments=experiments)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_client(client)
            try:
                raise ValueError("boom from the receiver test")
            except ValueError as error:
                event_id = sentry_sdk.capture_exception(error)
        client.flush(timeout=5)
    finally:
        client.close(timeout=5)
    assert not sentry_sdk.get_client().is_active()  # nothing leaked into the global scope

    (event,) = sentry.wait_for_events(count=1, timeout=5)

    assert event["event_id"] == event_id
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["value"] == "boom from the receiver test"
    assert event["environment"] == "test"
    assert event["release"] == "receiver-test@1"
    trace_id = event["contexts"]["trace"]["trace_id"]
    assert HEX32.match(trace_id)
    (envelope,) = sentry.envelopes
    assert envelope.content_encoding == content_encoding
    assert envelope.headers["event_id"] == event_id
    assert envelope.headers["trace"]["trace_id"] == trace_id  # dynamic sampling context
    assert envelope.headers["trace"]["public_key"] == "public"
    assert [item.type for item in envelope.items] == ["event"]
    assert sentry.transactions == []


def test_sentry_wait_for_events_times_out_when_nothing_arrives(sentry: SentryReceiver) -> None:
    with pytest.raises(AssertionError, match=r"not met within 0\.2 s"):
        sentry.wait_for_events(count=1, timeout=0.2)


def test_parse_envelope_reads_length_prefixed_and_newline_terminated_items() -> None:
    event = json.dumps({"event_id": "a" * 32, "message": "line\nbreak"}).encode()
    body = b"".join(
        [
            b'{"event_id":"' + b"a" * 32 + b'"}\n',
            b'{"type":"event","length":' + str(len(event)).encode() + b"}\n",
            event + b"\n",
            b'{"type":"session"}\n',
            b'{"sid":"1"}\n',
            b'{"type":"attachment","length":3}\n',
            b"a\nb",
        ]
    )

    envelope = parse_envelope(body)

    assert envelope.headers == {"event_id": "a" * 32}
    assert [item.type for item in envelope.items] == ["event", "session", "attachment"]
    assert envelope.items[0].json()["message"] == "line\nbreak"
    assert envelope.items[1].json() == {"sid": "1"}
    assert envelope.items[2].payload == b"a\nb"


def test_sentry_receiver_accepts_gzip_envelopes_and_legacy_store_posts(
    sentry: SentryReceiver,
) -> None:
    envelope = b'{}\n{"type":"transaction"}\n{"type":"transaction","transaction":"GET /"}\n'
    stored = json.dumps({"message": "legacy"}).encode()

    gzipped = gzip.compress(envelope)

    envelope_status = post(
        f"{sentry.endpoint}/api/1/envelope/", gzipped, {"Content-Encoding": "gzip"}
    )
    store_status = post(f"{sentry.endpoint}/api/1/store/", stored, {})

    assert (envelope_status, store_status) == (200, 200)

    assert sentry.wait_for_transactions(count=1, timeout=5)[0]["transaction"] == "GET /"
    assert sentry.wait_for_events(count=1, timeout=5) == [{"message": "legacy"}]
    assert sentry.requests == 2


def test_sentry_receiver_decodes_brotli_envelopes() -> None:
    """sentry-sdk switches to br whenever brotli is importable (a dev dependency here)."""
    import brotli  # type: ignore[import-untyped]  # noqa: PLC0415

    payload = b'{"message": "compressed"}'
    envelope = b'{}\n{"type": "event", "length": %d}\n%s\n' % (len(payload), payload)
    with SentryReceiver() as sentry:
        status = post(
            f"{sentry.endpoint}/api/1/envelope/",
            brotli.compress(envelope),
            {"Content-Encoding": "br"},
        )

        assert status == 200
        assert sentry.wait_for_events(count=1, timeout=5) == [{"message": "compressed"}]


@pytest.mark.parametrize("encoding", ["zstd", "x-unknown"])
def test_sentry_receiver_fails_loudly_on_an_encoding_it_cannot_decode(encoding: str) -> None:
    receiver = SentryReceiver()
    statuses: list[int] = []

    def send_undecodable() -> None:
        with receiver:
            url = f"{receiver.endpoint}/api/1/envelope/"
            statuses.append(post(url, b"\x00", {"Content-Encoding": encoding}))
            with pytest.raises(AssertionError, match=rf"errors:.*Content-Encoding '?{encoding}"):
                receiver.wait_for_events(count=1, timeout=0.1)

    with pytest.raises(AssertionError, match=rf"rejected requests.*Content-Encoding '?{encoding}"):
        send_undecodable()

    assert statuses == [415]
    assert receiver.events == []


# ------------------------------------------------------------------ black hole
def test_black_hole_accepts_connections_and_never_answers() -> None:
    with BlackHole() as hole:
        with socket.create_connection((HOST, hole.port), timeout=1) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        request = urllib.request.Request(f"{hole.endpoint}/v1/traces", data=b"x", method="POST")
        started = time.monotonic()

        with pytest.raises(TimeoutError):
            _OPENER.open(request, timeout=0.5)

        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 3
        assert hole.accepted == 2
        assert hole.dsn == f"http://public@{HOST}:{hole.port}/1"


def test_black_hole_bounds_an_otlp_export_by_the_exporter_timeout() -> None:
    with BlackHole() as hole:
        exporter = OTLPSpanExporter(
            endpoint=f"{hole.endpoint}/v1/traces", session=direct_session(), timeout=0.5
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "receiver-test"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        try:
            span = provider.get_tracer("receiver.tests").start_span("hung")
            started = time.monotonic()
            span.end()  # SimpleSpanProcessor exports synchronously
            elapsed = time.monotonic() - started
        finally:
            provider.shutdown()

    assert 0.4 <= elapsed < 3
