"""A stand-in for a benchmarked gunicorn: a master process whose only child answers every HTTP
request after burning a set amount of CPU, so tests of wrk runs and paired runs know what the
cost ratio between two such servers should read.

``python -m tests.support.busy_http PORT BURN_MS`` starts the master; it runs the child
(``--child``) and stops it when it gets SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from loadtests.local_server import REPO, answers_200
from tests.support.ports import HOST, free_port
from tests.support.waiting import poll

MODULE = "tests.support.busy_http"


def burn(seconds: float) -> None:
    """Keep this thread busy until it has used ``seconds`` of CPU."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def serve(port: int, burn_ms: float) -> None:
    """Answer every GET and POST with 200 ``{}`` after ``burn_ms`` of this thread's CPU."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            burn(burn_ms / 1000)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _answer  # noqa: N815  # http.server's naming

        def log_message(self, format: str, *args: Any) -> None:
            return

    HTTPServer((HOST, port), Handler).serve_forever()


def master(port: int, burn_ms: float) -> None:
    """Run the child server until SIGTERM, then stop it."""
    child = subprocess.Popen(  # this interpreter, this module
        [sys.executable, "-m", MODULE, str(port), str(burn_ms), "--child"], cwd=REPO
    )
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    child.wait()


@dataclass
class BusyServer:
    """What wrk and the paired runs read of a server (``wrk.Target`` and ``paired.Loaded``)."""

    process: subprocess.Popen[bytes]
    url: str
    token: str = "test-token"  # not checked by the server
    todo_id: int = 1
    requests: int = 0


@contextmanager
def busy_server(burn_ms: float) -> Iterator[BusyServer]:
    """A running master and child burning ``burn_ms`` a request; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(  # this interpreter, this module
        [sys.executable, "-m", MODULE, str(port), str(burn_ms)], cwd=REPO
    )
    server = BusyServer(process, f"http://{HOST}:{port}")
    try:
        poll(
            lambda: answers_200(f"{server.url}/", timeout=1),
            bool,
            timeout=20,
            failure=lambda _: f"the busy server at {server.url} did not answer",
        )
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    port_arg, burn_arg = int(sys.argv[1]), float(sys.argv[2])
    (serve if "--child" in sys.argv else master)(port_arg, burn_arg)
