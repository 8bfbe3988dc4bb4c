"""Unit tests of the fault-injection TCP proxy, against a tiny threaded echo server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.tcp_proxy import HOST, TcpProxy

pytestmark = pytest.mark.database_free

TIMEOUT_S = 3.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """An echo server on a free port of 127.0.0.1."""
    with _EchoServer((HOST, 0), _Echo) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield HOST, int(server.server_address[1])
        finally:
            server.shutdown()
            thread.join(timeout=5)


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[TcpProxy]:
    """A proxy to the echo server."""
    with TcpProxy(*echo) as running:
        yield running


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=TIMEOUT_S)


def _roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def _is_closed(sock: socket.socket) -> bool:
    """True when the peer closed ``sock`` (EOF or reset) within the timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_forwards_both_ways(proxy: TcpProxy) -> None:
    payload = bytes(range(256)) * 1024  # larger than one buffer
    with _connect(proxy) as sock:
        assert _roundtrip(sock, payload) == payload
    assert proxy.accepted == 1
    assert proxy.state == "forwarding"


def test_cut_closes_open_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    with _connect(proxy) as sock:
        assert _roundtrip(sock, b"ping") == b"ping"
        started = time.monotonic()
        proxy.cut()
        assert _is_closed(sock)
        assert time.monotonic() - started < 1.0
    assert proxy.state == "cut"
    assert proxy.active == 0
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)


def test_restore_after_cut_forwards_on_the_same_port(proxy: TcpProxy) -> None:
    port = proxy.port
    proxy.cut()
    proxy.restore()
    assert proxy.port == port
    with _connect(proxy) as sock:
        assert _roundtrip(sock, b"back") == b"back"


def test_hang_accepts_but_never_answers_then_restore_forwards(proxy: TcpProxy) -> None:
    with _connect(proxy) as old:
        assert _roundtrip(old, b"before") == b"before"
        proxy.hang()
        old.settimeout(0.3)
        old.sendall(b"held")
        with pytest.raises(TimeoutError):
            old.recv(16)  # nothing forwarded while hung
        with _connect(proxy) as new:  # accepted...
            new.settimeout(0.3)
            new.sendall(b"hello")
            with pytest.raises(TimeoutError):
                new.recv(16)  # ...but never answered
            proxy.restore()
            new.settimeout(TIMEOUT_S)
            assert _is_closed(new)  # it never had an upstream: closed on restore
        old.settimeout(TIMEOUT_S)
        assert old.recv(16) == b"held"  # the held bytes flow once the partition heals


def test_cut_from_hung_and_restore(proxy: TcpProxy) -> None:
    proxy.hang()
    held = _connect(proxy)
    with held:
        proxy.cut()
        assert _is_closed(held)
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
    proxy.hang()
    with _connect(proxy):
        pass
    proxy.restore()
    with _connect(proxy) as sock:
        assert _roundtrip(sock, b"ok") == b"ok"


def test_upstream_down_closes_the_client() -> None:
    with socket.socket() as placeholder:
        placeholder.bind((HOST, 0))
        dead_port = placeholder.getsockname()[1]
    with TcpProxy(HOST, dead_port, connect_timeout=1) as proxy, _connect(proxy) as sock:
        assert _is_closed(sock)


def test_rewrite_url_and_url(proxy: TcpProxy) -> None:
    rewritten = proxy.rewrite_url("postgres://user:pw@127.0.0.1:5432/test?sslmode=disable")
    assert rewritten == f"postgres://user:pw@127.0.0.1:{proxy.port}/test?sslmode=disable"
    assert proxy.rewrite_url("redis://localhost:6379/1") == f"redis://127.0.0.1:{proxy.port}/1"
    assert proxy.url("redis", "/0") == f"redis://127.0.0.1:{proxy.port}/0"


def test_close_is_final(echo: tuple[str, int]) -> None:
    proxy = TcpProxy(*echo).start()
    sock = _connect(proxy)
    with sock:
        proxy.close()
        proxy.close()
        assert _is_closed(sock)
    with contextlib.suppress(OSError), pytest.raises(RuntimeError):
        proxy.restore()
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
