"""A threaded TCP proxy (127.0.0.1 by default) a test can cut, hang and restore, to fake outages.

Point a client (the service's ``DATABASE_URL``, ``REDIS_URL``, ...) at the proxy instead of the
real backend, then switch the proxy's state while the service runs::

    with TcpProxy("127.0.0.1", 5432) as proxy:
        env = {"DATABASE_URL": proxy.rewrite_url("postgres://postgres@127.0.0.1:5432/test")}
        ...                  # start the service with env
        proxy.cut()          # backend "down": open connections closed, new ones refused
        proxy.restore()      # backend back: accept and forward again
        proxy.hang()         # backend "partitioned": nothing forwarded, nothing answered
        proxy.restore()      # partition healed: held bytes flow on

States (``proxy.state``):

- ``"forwarding"`` (initial, and after ``restore()``): every accepted connection gets its own
  upstream connection to ``target_host:target_port`` and bytes are copied both ways by two
  daemon threads. If the upstream connection fails, the client connection is closed.
- ``"cut"`` (``cut()``): every open connection is closed on both sides (``shutdown`` then
  ``close``, so the peers see EOF or a reset) and the **listening socket is closed**, so new
  connections are *refused* (``ECONNREFUSED``) - what clients see when the backend's host is up
  but its process is not. ``restore()`` binds the same port again (``SO_REUSEADDR``); the port
  therefore stays the proxy's for its whole life (another process could in theory take it while
  cut; on a test host that does not happen in practice).
- ``"hung"`` (``hang()``): the listening socket stays open and new connections are accepted
  but never forwarded nor answered (held open until ``restore()``, ``cut()`` or exit); already
  open connections stop copying bytes (both ways; data waits in the socket buffers). This is a
  black-holed network: clients only notice through their own timeouts. ``restore()`` forwards
  the held bytes of old connections again; connections accepted while hung are closed then
  (they never had an upstream).

Counters: ``accepted`` (connections accepted since start), ``active`` (forwarded connections
open now), ``refused_while_cut`` is not observable (the kernel refuses them). Every switch is
synchronous: when ``cut()``/``hang()``/``restore()`` returns, the new state is in force.

Leaving the ``with`` block (or ``close()``) closes everything and joins the acceptor thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from typing import Literal, Self
from urllib.parse import urlsplit, urlunsplit

from tests.support.lifecycle import Background

HOST = "127.0.0.1"
_BUFFER = 64 * 1024
_POLL_S = 0.05  # how often idle threads look at the state; bounds every switch's latency

State = Literal["forwarding", "cut", "hung", "closed"]


def _close(sock: socket.socket) -> None:
    """Shut a socket down both ways (the peer sees EOF/RST now) and close it; never raise."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and its upstream connection, pumped by two daemon threads."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self._pending = 2
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start copying in both directions."""
        for source, sink, name in (
            (self.client, self.upstream, "c2u"),
            (self.upstream, self.client, "u2c"),
        ):
            threading.Thread(
                target=self._pump, args=(source, sink), name=f"proxy-{name}", daemon=True
            ).start()

    def close(self) -> None:
        """Close both sides now (idempotent)."""
        if self.closed.is_set():
            return
        self.closed.set()
        _close(self.client)
        _close(self.upstream)
        self.proxy._forget(self)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy ``source`` to ``sink`` until EOF/error or close; pause while the proxy hangs."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(source, selectors.EVENT_READ)
                while not self.closed.is_set():
                    if not self.proxy._forwarding.wait(_POLL_S):
                        continue  # hung: leave the bytes in the kernel buffers
                    if not selector.select(_POLL_S):
                        continue
                    data = source.recv(_BUFFER)
                    if not data:
                        break
                    while not self.proxy._forwarding.wait(_POLL_S):  # hung after the read
                        if self.closed.is_set():
                            return
                    sink.sendall(data)
        except (OSError, ValueError):
            pass  # the other pump or cut() closed the sockets
        finally:
            self._half_done(sink)

    def _half_done(self, sink: socket.socket) -> None:
        """One direction ended: pass EOF on; once both did, close the link."""
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self.close()


class TcpProxy(Background):
    """Forward connections from a free port of 127.0.0.1 to ``target_host:target_port``.

    See the module docstring for the states. ``port``/``address`` are fixed at construction
    (the socket is bound then); the acceptor starts on ``start()`` or entering ``with``.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        connect_timeout: float = 5.0,
        host: str = HOST,
        port: int = 0,
    ) -> None:
        self.host = host  # the address it listens on (a partition's veth address, say)
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self.accepted = 0
        self._lock = threading.Lock()  # guards the connection sets; held only briefly
        self._switch = threading.Lock()  # serialises the state switches (never taken by threads)
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []  # accepted while hung
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._state: State = "forwarding"
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stop_accepting = threading.Event()
        self._listener = self._listen(port)
        self.port: int = self._listener.getsockname()[1]

    # -------------------------------------------------------------- public API
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients should connect to."""
        return (self.host, self.port)

    @property
    def state(self) -> State:
        """``forwarding``, ``cut``, ``hung`` or ``closed``."""
        return self._state

    @property
    def active(self) -> int:
        """Forwarded connections open right now."""
        with self._lock:
            return len(self._links)

    def url(self, scheme: str, path: str = "", *, userinfo: str = "") -> str:
        """``scheme://[userinfo@]host:port/path``, e.g. ``url("redis", "/0")``."""
        user = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{path.lstrip('/')}"

    def rewrite_url(self, url: str) -> str:
        """``url`` (pointing at the target) with its host and port replaced by the proxy's;
        scheme, credentials, path and query are kept."""
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        address = f"{self.host}:{self.port}"
        netloc = f"{userinfo}@{address}" if userinfo else address
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> Self:
        """Start accepting (idempotent); return self."""
        with self._switch:
            if self._acceptor is None and self._listener is not None:
                self._start_acceptor(self._listener)
        return self

    def cut(self) -> None:
        """Close every open connection both ways and refuse new ones (listener closed)."""
        with self._switch:
            self._require_open()
            self._state = "cut"
            self._forwarding.clear()
            self._stop_acceptor()
            self._close_connections()

    def hang(self) -> None:
        """Accept new connections but never answer; stop copying on the open ones."""
        with self._switch:
            self._require_open()
            self._forwarding.clear()
            self._state = "hung"
            if self._listener is None:  # from cut: listen again, but only to hold
                self._listener = self._listen(self.port)
                self._start_acceptor(self._listener)

    def restore(self) -> None:
        """Accept and forward again (after ``cut()`` or ``hang()``); a no-op when forwarding."""
        with self._switch:
            self._require_open()
            with self._lock:
                held, self._held = self._held, []
            for sock in held:
                _close(sock)
            if self._listener is None:
                self._listener = self._listen(self.port)
                self._start_acceptor(self._listener)
            self._state = "forwarding"
            self._forwarding.set()

    def close(self) -> None:
        """Stop accepting and close every connection (idempotent)."""
        with self._switch:
            if self._state == "closed":
                return
            self._state = "closed"
            self._forwarding.clear()
            self._stop_acceptor()
            self._close_connections()
            if self._listener is not None:  # never started
                _close(self._listener)
                self._listener = None

    stop = close  # leaving a ``with`` block closes the proxy

    def __repr__(self) -> str:
        return (
            f"<TcpProxy {self.host}:{self.port} -> {self.target[0]}:{self.target[1]} {self._state}>"
        )

    # -------------------------------------------------------------- internals
    def _require_open(self) -> None:
        if self._state == "closed":
            raise RuntimeError("the proxy is closed")

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        return listener

    def _start_acceptor(self, listener: socket.socket) -> None:
        self._stop_accepting = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept_loop,
            args=(listener, self._stop_accepting),
            name=f"proxy-accept-{self.port}",
            daemon=True,
        )
        self._acceptor.start()

    def _stop_acceptor(self) -> None:
        """Stop the acceptor thread, then close the listener (new connections are refused)."""
        self._stop_accepting.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        if self._listener is not None:
            _close(self._listener)
            self._listener = None

    def _close_connections(self) -> None:
        with self._lock:
            links, self._links = list(self._links), set()
            held, self._held = self._held, []
        for link in links:
            link.close()
        for sock in held:
            _close(sock)

    def _hold(self, client: socket.socket) -> None:
        """Hung: keep ``client`` open and unanswered; cut or closed: close it (caller locks)."""
        if self._state == "hung":
            self._held.append(client)
        else:
            _close(client)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                if not selector.select(_POLL_S):
                    continue
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                self._handle(client)

    def _handle(self, client: socket.socket) -> None:
        with self._lock:
            self.accepted += 1
            if self._state != "forwarding":
                self._hold(client)
                return
        try:
            upstream = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(self, client, upstream)
        with self._lock:
            if self._state != "forwarding":  # switched while connecting upstream
                _close(upstream)
                self._hold(client)
                return
            self._links.add(link)
        link.start()


def serve(listen: str, target: str) -> None:
    """Forward ``listen`` (``host:port``) to ``target`` until SIGTERM: the proxy as a process
    (for a network namespace: ``ip netns exec NS python -m tests.support.tcp_proxy L T``)."""
    import signal  # noqa: PLC0415

    host, _, port = listen.rpartition(":")
    target_host, _, target_port = target.rpartition(":")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with TcpProxy(target_host, int(target_port), host=host, port=int(port)):
        print("forwarding", flush=True)  # noqa: T201  # the parent waits for this line
        stopped.wait()


if __name__ == "__main__":
    import sys

    serve(*sys.argv[1:3])
