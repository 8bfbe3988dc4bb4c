"""A real network partition between the service and a backend, on addresses the test creates.

A ``TcpProxy`` in a test's own process fakes a server that stops answering, but the kernel
still ACKs every byte, so TCP-level bounds (keepalives, ``tcp_user_timeout``) never see it.
``NetworkPartition`` makes the packets themselves disappear, with nothing shared touched:

    service --> ns_address:port   a forwarder inside a network namespace of the test's own,
                                  joined to this one by a veth pair (link-local /30)
            --> host_address:relay_port   a TcpProxy in this process, on the veth's host end
            --> target (127.0.0.1:5432, say)

``partition()`` sets the namespace's end of the veth down: every packet the service sends to
``ns_address`` is dropped by the kernel (permanent neighbour entries, so no ARP failure turns
the silence into "no route to host"), new connections see their SYNs vanish. ``heal()``
brings the link back. Needs root and iproute2 (veth); skips otherwise, or fails with
REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess  # nosec B404  # ip(8) and our own forwarder
import sys
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.backing_services import services_required
from tests.support.lifecycle import Background
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import poll

REPO = Path(__file__).resolve().parents[2]
FORWARDER_PORT = 15432  # inside the namespace: nothing else listens there


def _ip(*args: str, namespace: str | None = None) -> str:
    """Run ``ip [-n NAMESPACE] ARGS``; its output."""
    binary = shutil.which("ip")
    assert binary is not None, "require_partitions() first"
    where = ["-n", namespace] if namespace else []
    result = subprocess.run(  # nosec B603  # ip(8) with our own arguments
        [binary, *where, *args], check=True, capture_output=True, text=True, timeout=30
    )
    return result.stdout


def _link(namespace: str, link: str) -> dict[str, Any]:
    """``ip -j link show`` of ``link`` in ``namespace`` (``address``, ``operstate``...)."""
    shown: list[dict[str, Any]] = json.loads(
        _ip("-j", "link", "show", "dev", link, namespace=namespace)
    )
    return shown[0]


def require_partitions() -> None:
    """Skip (or fail under REQUIRE_SERVICES=1) unless this process may create namespaces."""
    available = os.geteuid() == 0 and shutil.which("ip") is not None
    if available:
        return
    message = "network partitions need root and iproute2 (`ip netns`, veth)"
    if services_required():
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
    pytest.skip(message)


class NetworkPartition(Background):
    """A path to ``target`` through a veth pair whose far end can be set down (see module)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        tag = secrets.token_hex(3)
        self.namespace = f"todo-part-{tag}"
        self.host_link, self.ns_link = f"tp{tag}a", f"tp{tag}b"
        subnet = 4 * secrets.randbelow(64)
        octet = 1 + secrets.randbelow(254)
        self.host_address = f"169.254.{octet}.{subnet + 1}"
        self.ns_address = f"169.254.{octet}.{subnet + 2}"
        self.port = FORWARDER_PORT
        self._target = (target_host, target_port)
        self._relay: TcpProxy | None = None
        self._forwarder: subprocess.Popen[str] | None = None
        self.partitioned = False

    def rewrite_url(self, url: str) -> str:
        """``url`` with its host and port replaced by the forwarder's (credentials kept)."""
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        address = f"{self.ns_address}:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{address}" if userinfo else address))

    def start(self) -> Self:
        """Create the namespace, the veth pair, the relay and the forwarder."""
        _ip("netns", "add", self.namespace)
        try:
            _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.ns_link)
            _ip("link", "set", self.ns_link, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_link)
            _ip("link", "set", self.host_link, "up")
            _ip(
                "addr",
                "add",
                f"{self.ns_address}/30",
                "dev",
                self.ns_link,
                namespace=self.namespace,
            )
            _ip("link", "set", "lo", "up", namespace=self.namespace)
            self._link_up()
            self._relay = TcpProxy(*self._target, host=self.host_address).start()
            command = [
                *("netns", "exec", self.namespace, sys.executable, "-m", "tests.support.tcp_proxy"),
                f"{self.ns_address}:{self.port}",
                f"{self.host_address}:{self._relay.port}",
            ]
            self._forwarder = subprocess.Popen(  # nosec B603  # our own module
                [str(shutil.which("ip")), *command],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self._forwarder.stdout is not None
            line = self._forwarder.stdout.readline()
            assert line.strip() == "forwarding", f"the forwarder did not start: {line!r}"
        except BaseException:
            self.stop()
            raise
        return self

    def partition(self) -> None:
        """Drop every packet on the path from now on (open and new connections alike)."""
        _ip("link", "set", self.ns_link, "down", namespace=self.namespace)
        self.partitioned = True

    def heal(self) -> None:
        """Let packets through again."""
        self._link_up()
        self.partitioned = False

    def stop(self) -> None:
        """Remove everything ``start()`` made (idempotent)."""
        if self._forwarder is not None:
            self._forwarder.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._forwarder.wait(timeout=10)
            if self._forwarder.poll() is None:
                self._forwarder.kill()
            self._forwarder = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.host_link)  # removes its peer too
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.namespace)

    def _link_up(self) -> None:
        """The namespace's end up, with permanent neighbour entries both ways (a link going
        down flushes them; without them a lost ARP reply would answer "no route to host")."""
        _ip("link", "set", self.ns_link, "up", namespace=self.namespace)
        host_mac = Path(f"/sys/class/net/{self.host_link}/address").read_text().strip()
        ns_mac = _link(self.namespace, self.ns_link)["address"]
        _ip(
            "neigh",
            "replace",
            self.ns_address,
            "lladdr",
            ns_mac,
            "dev",
            self.host_link,
            "nud",
            "permanent",
        )
        _ip(
            "neigh",
            "replace",
            self.host_address,
            "lladdr",
            host_mac,
            "dev",
            self.ns_link,
            "nud",
            "permanent",
            namespace=self.namespace,
        )
        poll(
            lambda: _link(self.namespace, self.ns_link)["operstate"],
            lambda state: state != "DOWN",
            timeout=10,
            interval=0.05,
            failure=lambda state: f"{self.ns_link} stayed {state}",
        )
