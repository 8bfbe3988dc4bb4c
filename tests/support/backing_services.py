"""Reachability of the real servers some tests need, and the skip-or-fail rule for them.

Without a server a test skips, saying how to get one; with REQUIRE_SERVICES=1 (set by CI) a
missing server fails the test instead. Also a command for the Makefile:
``python -m tests.support.backing_services postgres URL`` exits 0 when the server answers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

HOW_TO_GET = {
    "postgres": "start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or set "
    "TEST_POSTGRES_URL",
    "redis": "start Redis on 127.0.0.1:6379 (e.g. `redis-server --daemonize yes`) or set "
    "TEST_REDIS_URL",
    "chromium": "install Debian's chromium package (`apt-get install chromium`)",
    "prometheus": "install Debian's prometheus package (`apt-get install -y prometheus`)",
    "docker": "install Debian's docker.io and start the engine with the host network only, as "
    "`.ci/run` does: `apt-get install -y --no-install-recommends docker.io debootstrap && "
    "dockerd --bridge=none --iptables=false &`",
    "debootstrap": "install Debian's debootstrap (`apt-get install -y debootstrap`; it builds "
    "the local base image, images/python-base.sh)",
    "wrk": "install Debian's wrk (`apt-get install -y wrk`; make bench drives the servers with it)",
    "alertmanager": "install Debian's prometheus-alertmanager package "
    "(`apt-get install -y prometheus-alertmanager`)",
}


def services_required() -> bool:
    """True when a missing server must fail the run (CI)."""
    return os.environ.get("REQUIRE_SERVICES", "0") == "1"


def reachable(url: str, *, default_port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to the URL's host and port succeeds."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=timeout
        ):
            return True
    except OSError:
        return False


def require(service: str, available: bool) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) the calling test when ``service`` is missing."""
    if available:
        return
    message = f"{service} is not available: {HOW_TO_GET[service]}"
    if services_required():
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
    pytest.skip(message)


def binary(service: str, *names: str) -> str:
    """The path of the first of ``names`` on PATH; skip or fail (see :func:`require`) if none."""
    found = next((path for path in map(shutil.which, names) if path), None)
    require(service, found is not None)
    assert found is not None  # require() skipped or failed the test otherwise
    return found


def run_tool(service: str, tool: str, *args: str, context: str = "", timeout: float = 120) -> str:
    """Run ``tool ARGS`` (a command of ``service``'s package, see :func:`binary`); fail the
    test, showing its output after ``context``, unless it exits 0. Returns its stdout."""
    result = subprocess.run(
        [binary(service, tool), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    command = " ".join([tool, *args])
    assert result.returncode == 0, f"{context}{command}:\n{result.stdout}{result.stderr}"
    return result.stdout


if __name__ == "__main__":
    _, name, url = sys.argv
    ports = {"postgres": 5432, "redis": 6379}
    sys.exit(0 if reachable(url, default_port=ports[name]) else 1)
