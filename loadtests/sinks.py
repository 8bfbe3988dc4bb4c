"""The benchmarks' local sinks: HTTP servers that accept what an exporter sends (OTLP/HTTP
traces, Sentry envelopes), count it per path (requests, bytes, spans or envelope item types)
and discard it. ``make bench``, ``make bench-instructions`` and the soak run each point their
exporting variants at one, and fail a run whose sink received nothing.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from typing import Any, cast

from loadtests.local_server import HOST


@dataclass
class PathCount:
    """What one sink path received."""

    requests: int = 0
    bytes: int = 0
    items: Counter[str] = field(default_factory=Counter)


class SinkStats:
    """Requests, bytes and decoded items (spans, envelope item types) per path; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: dict[str, PathCount] = {}

    def add(self, path: str, size: int, items: Mapping[str, int]) -> None:
        """Count one request of ``size`` body bytes carrying ``items``."""
        with self._lock:
            count = self._paths.setdefault(path, PathCount())
            count.requests += 1
            count.bytes += size
            count.items.update(items)

    def item(self, name: str) -> int:
        """How many ``name`` items (``spans``, ``transaction``...) arrived on any path."""
        with self._lock:
            return sum(count.items[name] for count in self._paths.values())

    def snapshot(self) -> dict[str, Any]:
        """``{path: {"requests", "bytes", "items": {...}}}``, sorted by path."""
        with self._lock:
            return {
                path: {
                    "requests": c.requests,
                    "bytes": c.bytes,
                    "items": dict(sorted(c.items.items())),
                }
                for path, c in sorted(self._paths.items())
            }


def decompress(body: bytes, encoding: str) -> bytes:
    """The body without its Content-Encoding (identity, gzip, deflate or br)."""
    encoding = encoding.strip().lower()
    if encoding in {"", "identity"}:
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":  # Sentry's default when Brotli is installed
        decoded: bytes = import_module("brotli").decompress(body)
        return decoded
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


def count_spans(body: bytes) -> int:
    """Spans in an OTLP/HTTP protobuf ``ExportTraceServiceRequest``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans)


def count_envelope_items(body: bytes) -> Counter[str]:
    """Items per type (``transaction``, ``event``, ``client_report``...) in a Sentry envelope:
    a header line, then per item a JSON header line and a payload of ``length`` bytes (or up
    to the next newline when the header gives no length)."""
    counts: Counter[str] = Counter()
    _, _, rest = body.partition(b"\n")
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is None:
            _, _, rest = rest.partition(b"\n")
        else:
            rest = rest[int(length) :].removeprefix(b"\n")
        counts[str(header.get("type", "unknown"))] += 1
    return counts


def decode_items(path: str, body: bytes, encoding: str) -> Counter[str]:
    """What a sink request carried: ``spans`` for OTLP traces, item types for envelopes,
    ``undecodable`` when it could not be read, nothing for other paths."""
    try:
        if path.endswith("/v1/traces"):
            return Counter({"spans": count_spans(decompress(body, encoding))})
        if path.endswith("/envelope/"):
            return count_envelope_items(decompress(body, encoding))
    except Exception:  # any malformed body is counted, never fatal
        return Counter({"undecodable": 1})
    return Counter()


class SinkServer(ThreadingHTTPServer):
    """An HTTP server that accepts every POST, counts it in ``stats`` and discards it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _SinkHandler)
        self.stats = SinkStats()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.server_address[1]}"


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector or Sentry

    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        items = decode_items(self.path, body, self.headers.get("Content-Encoding") or "")
        cast("SinkServer", self.server).stats.add(self.path, len(body), items)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def start_sink() -> SinkServer:
    """A sink serving in a background thread until ``shutdown()``."""
    sink = SinkServer()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    return sink
