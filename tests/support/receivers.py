"""Fake telemetry backends that receive the real wire formats, for tests of the exporters.

Each receiver listens on a free port of 127.0.0.1 chosen by the OS and serves from a daemon
thread; use it as a context manager (started on enter, shut down and closed on exit):

- ``OtlpReceiver``: an OTLP/HTTP protobuf trace collector (``POST /v1/traces``); decodes
  ``ExportTraceServiceRequest`` into ``ReceivedSpan`` records.
- ``SentryReceiver``: a Sentry ingestion endpoint (``POST /api/<project>/envelope/`` and the
  legacy ``/store/``); parses envelopes into event and transaction dicts.
- ``BlackHole``: accepts TCP connections and never answers, to prove that a hung collector or
  Sentry cannot slow requests down.

A receiver that gets something it cannot decode answers 4xx and records the problem; the
``wait_for*`` helpers report recorded problems, and leaving the ``with`` block raises
``AssertionError`` for them, so a broken exporter never looks like a slow one.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import selectors
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeVar, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.support.lifecycle import Background

HOST = "127.0.0.1"
DEFAULT_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 64 * 1024 * 1024

_Record = TypeVar("_Record")


class ReceiverError(Exception):
    """A request the receiver could not accept; answered with ``status`` and recorded."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class ReceivedSpanEvent:
    """One event recorded on a span (for example ``exception``)."""

    name: str
    attributes: dict[str, Any]
    time_ns: int


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as decoded from OTLP: hex ids, short enum names, plain Python attributes."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: str
    start_ns: int
    end_ns: int
    status_message: str = ""
    events: tuple[ReceivedSpanEvent, ...] = ()
    trace_state: str = ""

    @property
    def duration_s(self) -> float:
        """End minus start, in seconds."""
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True)
class EnvelopeItem:
    """One item of a Sentry envelope: its header and raw payload."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        """The item type (``event``, ``transaction``, ``session``, ...)."""
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


@dataclass(frozen=True)
class Envelope:
    """A Sentry envelope: header and items, plus the Content-Encoding it arrived with."""

    headers: dict[str, Any]
    items: tuple[EnvelopeItem, ...]
    content_encoding: str = "identity"


# ------------------------------------------------------------------ decoding
_SCALAR_FIELDS = frozenset(
    {"string_value", "bool_value", "int_value", "double_value", "bytes_value"}
)


def decode_any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a Python value (str, bool, int, float, list, dict, bytes, None)."""
    kind = value.WhichOneof("value")
    if kind in _SCALAR_FIELDS:
        return getattr(value, kind)
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return None


def decode_attributes(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """A repeated ``KeyValue`` field as a dict."""
    return {pair.key: decode_any_value(pair.value) for pair in attributes}


def _short_enum(name: str, prefix: str) -> str:
    return name.removeprefix(prefix)


def decode_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Flatten an ``ExportTraceServiceRequest`` into ``ReceivedSpan`` records."""
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=_short_enum(Span.SpanKind.Name(span.kind), "SPAN_KIND_"),
                        attributes=decode_attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        status_code=_short_enum(
                            Status.StatusCode.Name(span.status.code), "STATUS_CODE_"
                        ),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_message=span.status.message,
                        events=tuple(
                            ReceivedSpanEvent(
                                name=event.name,
                                attributes=decode_attributes(event.attributes),
                                time_ns=event.time_unix_nano,
                            )
                            for event in span.events
                        ),
                        trace_state=span.trace_state,
                    )
                )
    return spans


def decode_content(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip, deflate, br); anything else is an error."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":  # zlib-wrapped as HTTP says; raw deflate from lenient clients
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if encoding == "br":
        try:
            import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: PLC0415
        except ImportError as error:
            raise ReceiverError(
                "Content-Encoding br arrived but the brotli module is not installed", 415
            ) from error
        return cast("bytes", brotli.decompress(body))
    raise ReceiverError(f"unsupported Content-Encoding {encoding!r}", 415)


def parse_envelope(body: bytes, content_encoding: str = "identity") -> Envelope:
    """Parse a Sentry envelope: a header line, then items of header line + payload.

    A payload is ``length`` bytes when the item header says so, else everything up to the next
    newline; a newline after a payload is optional.
    """
    header_line, _, rest = body.partition(b"\n")
    headers = json.loads(header_line) if header_line.strip() else {}
    items: list[EnvelopeItem] = []
    position = 0
    while position < len(rest):
        if rest[position : position + 1] == b"\n":  # blank line between items
            position += 1
            continue
        end = rest.find(b"\n", position)
        end = len(rest) if end == -1 else end
        item_headers = json.loads(rest[position:end])
        position = end + 1
        if "length" in item_headers:
            length = int(item_headers["length"])
            payload = rest[position : position + length]
            if len(payload) != length:
                raise ReceiverError(f"item payload truncated: {len(payload)} of {length} bytes")
            position += length
            if rest[position : position + 1] == b"\n":
                position += 1
        else:
            end = rest.find(b"\n", position)
            end = len(rest) if end == -1 else end
            payload = rest[position:end]
            position = end + 1
        items.append(EnvelopeItem(headers=item_headers, payload=payload))
    return Envelope(headers=headers, items=tuple(items), content_encoding=content_encoding)


# ------------------------------------------------------------------ lifecycle
class _Listener(Background):
    """Shared lifecycle: a socket on a free port of 127.0.0.1, served from a daemon thread.

    ``start()`` on enter, ``stop()`` on exit; subclasses supply the socket through the hooks.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    # hooks
    def _open(self) -> Callable[[], object]:
        """Bind the listening socket; return the serving loop for the thread to run."""
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Make the serving loop return."""
        raise NotImplementedError

    def _close(self) -> None:
        """Close the listening socket and forget it."""
        raise NotImplementedError

    def _bound_port(self) -> int | None:
        """The listening port; None when not running."""
        raise NotImplementedError

    def _check_on_exit(self) -> None:
        """Raise for anything that went wrong while serving (after a ``with`` block that did
        not raise itself)."""

    # lifecycle
    def start(self) -> Self:
        """Bind a free port of 127.0.0.1 and serve from a daemon thread."""
        if self._bound_port() is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        serve = self._open()
        self._thread = threading.Thread(
            target=serve, name=f"{type(self).__name__}:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._bound_port() is None:
            return
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self._close()

    def finish(self, exc: BaseException | None) -> None:
        """Once stopped after a block that did not raise: the receiver's own checks."""
        if exc is None:
            self._check_on_exit()

    @property
    def port(self) -> int:
        """The port the OS gave this listener."""
        port = self._bound_port()
        if port is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return port

    @property
    def endpoint(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"


# ------------------------------------------------------------------ HTTP plumbing
class _Handler(BaseHTTPRequestHandler):
    """Routes POSTs to the owning receiver; everything else is 404/405."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0"))
        if length > MAX_BODY_BYTES:
            raise ReceiverError(f"body of {length} bytes is too large", 413)
        return self.rfile.read(length)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """Decode the body and hand it to the receiver; answer what it says."""
        receiver = self.server.receiver
        try:
            body = decode_content(self._read_body(), self.headers.get("Content-Encoding", ""))
            status, answer, content_type = receiver.handle(self.path, self.headers, body)
        except Exception as error:  # every failure is recorded and answered
            status = error.status if isinstance(error, ReceiverError) else 400
            receiver.record_error(f"POST {self.path}: {type(error).__name__}: {error}")
            answer, content_type = str(error).encode(), "text/plain"
        self._answer(status, answer, content_type)

    def do_GET(self) -> None:
        """Receivers only take POSTs."""
        self._answer(405, b"POST only", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: _HttpReceiver, port: int = 0) -> None:
        super().__init__((HOST, port), _Handler)
        self.receiver = receiver


class _HttpReceiver(_Listener):
    """Shared HTTP plumbing: a ThreadingHTTPServer, a lock, and recorded errors."""

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        self._wanted_port = port  # 0: a free one, chosen by the OS
        self._condition = threading.Condition()
        self._errors: list[str] = []
        self._requests = 0
        self._server: _Server | None = None

    def _open(self) -> Callable[[], object]:
        self._server = _Server(self, self._wanted_port)
        return functools.partial(self._server.serve_forever, poll_interval=0.05)

    def _interrupt(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def _close(self) -> None:
        if self._server is not None:
            self._server.server_close()
        self._server = None

    def _bound_port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def _snapshot(self, records: list[_Record]) -> list[_Record]:
        """A copy of ``records`` taken under the lock (handler threads append to them)."""
        with self._condition:
            return list(records)

    def _check_on_exit(self) -> None:
        if self.errors:
            raise AssertionError(f"{type(self).__name__} rejected requests: {self.errors}")

    @property
    def requests(self) -> int:
        """How many POSTs were accepted so far."""
        with self._condition:
            return self._requests

    @property
    def errors(self) -> list[str]:
        """Requests that could not be decoded (each answered 4xx)."""
        return self._snapshot(self._errors)

    # called from handler threads
    def take_errors(self) -> list[str]:
        """Return and forget the recorded errors (for tests that send bad requests on purpose)."""
        with self._condition:
            errors, self._errors = self._errors, []
            return errors

    def record_error(self, message: str) -> None:
        """Remember a rejected request and wake up waiters."""
        with self._condition:
            self._errors.append(message)
            self._condition.notify_all()

    def handle(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes, str]:
        """Decode one POST body; return status, body and content type of the answer."""
        raise NotImplementedError

    def _wait(self, ready: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
        """Block until ``ready()`` (checked under the lock) or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{type(self).__name__}: condition not met within {timeout:g} s; "
                        f"{self._requests} request(s), errors: {self._errors}\n{describe()}"
                    )
                self._condition.wait(remaining)


# ------------------------------------------------------------------ OTLP
class OtlpReceiver(_HttpReceiver):
    """An OTLP/HTTP protobuf trace collector: ``POST /v1/traces`` on ``.endpoint``."""

    TRACES_PATH = "/v1/traces"

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._spans: list[ReceivedSpan] = []

    @property
    def traces_endpoint(self) -> str:
        """The full traces URL (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
        return f"{self.endpoint}{self.TRACES_PATH}"

    @property
    def spans(self) -> list[ReceivedSpan]:
        """A snapshot of every span received so far, in arrival order."""
        return self._snapshot(self._spans)

    def clear(self) -> None:
        """Forget the spans received so far."""
        with self._condition:
            self._spans.clear()

    def handle(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes, str]:
        """Decode an ``ExportTraceServiceRequest`` and store its spans."""
        if path.split("?", maxsplit=1)[0] != self.TRACES_PATH:
            raise ReceiverError(f"no OTLP signal at {path}", 404)
        content_type = str(headers.get("Content-Type", "")).split(";")[0].strip()
        if content_type != "application/x-protobuf":
            raise ReceiverError(f"expected application/x-protobuf, got {content_type!r}", 415)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = decode_spans(request)
        with self._condition:
            self._requests += 1
            self._spans.extend(spans)
            self._condition.notify_all()
        answer = ExportTraceServiceResponse().SerializeToString()
        return 200, answer, "application/x-protobuf"

    def wait_for(
        self,
        predicate: Callable[[list[ReceivedSpan]], bool],
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate(spans)`` holds and return those spans; else AssertionError."""
        snapshot: list[ReceivedSpan] = []

        def ready() -> bool:
            nonlocal snapshot
            snapshot = list(self._spans)
            return predicate(snapshot)

        def describe() -> str:
            lines = [
                f"  {s.kind} {s.name!r} trace={s.trace_id} span={s.span_id} "
                f"parent={s.parent_span_id} attrs={s.attributes}"
                for s in snapshot
            ]
            return f"received {len(snapshot)} span(s):\n" + "\n".join(lines)

        self._wait(ready, timeout, describe)
        return snapshot


# ------------------------------------------------------------------ Sentry
class SentryReceiver(_HttpReceiver):
    """A Sentry ingestion endpoint for project 1: ``.dsn`` points a Sentry SDK at it."""

    PROJECT_ID = "1"
    PUBLIC_KEY = "public"

    def __init__(self) -> None:
        super().__init__()
        self._envelopes: list[Envelope] = []
        self._events: list[dict[str, Any]] = []
        self._transactions: list[dict[str, Any]] = []

    @property
    def dsn(self) -> str:
        """``http://public@127.0.0.1:PORT/1``."""
        return f"http://{self.PUBLIC_KEY}@{HOST}:{self.port}/{self.PROJECT_ID}"

    @property
    def envelopes(self) -> list[Envelope]:
        """A snapshot of every envelope received (legacy store posts as one-item envelopes)."""
        return self._snapshot(self._envelopes)

    @property
    def events(self) -> list[dict[str, Any]]:
        """A snapshot of the error/message events received (``event`` items)."""
        return self._snapshot(self._events)

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """A snapshot of the performance transactions received (``transaction`` items)."""
        return self._snapshot(self._transactions)

    def handle(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes, str]:
        """Parse an envelope (or a legacy store event) and collect its events."""
        route = path.split("?", maxsplit=1)[0].rstrip("/")
        prefix = f"/api/{self.PROJECT_ID}"
        encoding = str(headers.get("Content-Encoding", "") or "identity").lower()
        if route == f"{prefix}/envelope":
            envelope = parse_envelope(body, encoding)
        elif route == f"{prefix}/store":
            item = EnvelopeItem(headers={"type": "event"}, payload=body)
            envelope = Envelope(headers={}, items=(item,), content_encoding=encoding)
        else:
            raise ReceiverError(f"no Sentry endpoint at {path}", 404)
        decoded = [(item.type, item.json()) for item in envelope.items]
        with self._condition:
            self._requests += 1
            self._envelopes.append(envelope)
            for item_type, payload in decoded:
                if item_type == "event":
                    self._events.append(payload)
                elif item_type == "transaction":
                    self._transactions.append(payload)
            self._condition.notify_all()
        return 200, b"{}", "application/json"

    def _wait_for_count(
        self, records: list[dict[str, Any]], count: int, timeout: float
    ) -> list[dict[str, Any]]:
        def describe() -> str:
            kinds = [[item.type for item in envelope.items] for envelope in self._envelopes]
            return f"envelope item types so far: {kinds}"

        self._wait(lambda: len(records) >= count, timeout, describe)
        return self._snapshot(records)

    def wait_for_events(
        self, count: int = 1, timeout: float = DEFAULT_TIMEOUT_S
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events arrived and return all of them."""
        return self._wait_for_count(self._events, count, timeout)

    def wait_for_transactions(
        self, count: int = 1, timeout: float = DEFAULT_TIMEOUT_S
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` transactions arrived and return all of them."""
        return self._wait_for_count(self._transactions, count, timeout)


# ------------------------------------------------------------------ black hole
class BlackHole(_Listener):
    """A TCP listener that accepts connections, reads and discards, and never answers.

    Point an exporter or a Sentry DSN at it to prove that a hung backend cannot slow the
    service down. Held connections are closed on exit.
    """

    def __init__(self) -> None:
        super().__init__()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._accepted = 0
        self._bytes_received = 0

    def _open(self) -> Callable[[], object]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((HOST, 0))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._stop.clear()
        return functools.partial(self._run, listener)

    def _interrupt(self) -> None:
        self._stop.set()

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._listener = None

    def _bound_port(self) -> int | None:
        return None if self._listener is None else int(self._listener.getsockname()[1])

    def _run(self, listener: socket.socket) -> None:
        held: list[socket.socket] = []
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    for key, _ in selector.select(timeout=0.05):
                        sock = cast("socket.socket", key.fileobj)
                        if sock is listener:
                            with contextlib.suppress(BlockingIOError):
                                connection, _ = listener.accept()
                                connection.setblocking(False)
                                held.append(connection)
                                selector.register(connection, selectors.EVENT_READ)
                                with self._lock:
                                    self._accepted += 1
                            continue
                        try:
                            data = sock.recv(65536)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if data:
                            with self._lock:
                                self._bytes_received += len(data)
                        else:  # the client gave up: forget the connection
                            selector.unregister(sock)
                            held.remove(sock)
                            sock.close()
            finally:
                for connection in held:
                    connection.close()

    @property
    def dsn(self) -> str:
        """A Sentry DSN for project 1 that hangs."""
        return f"http://public@{HOST}:{self.port}/1"

    @property
    def accepted(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def bytes_received(self) -> int:
        """How many bytes clients sent (and were ignored)."""
        with self._lock:
            return self._bytes_received
