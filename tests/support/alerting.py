"""A real Alertmanager (Debian's prometheus-alertmanager) and a webhook that records what it sends.

The Alertmanager runs the project's own ``observability/alertmanager/alertmanager.yml`` with its
webhook placeholder pointed at :class:`Webhook`, on free ports, clustering off.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.backing_services import binary
from tests.support.ports import HOST, free_port
from tests.support.processes import RunningProcess, running_process
from tests.support.rules import alertmanager_config


@dataclass(frozen=True)
class Notification:
    """One alert of one webhook notification."""

    status: str  # firing | resolved
    labels: dict[str, str]
    receiver: str = ""  # the Alertmanager receiver that sent it


class Webhook:
    """An HTTP endpoint recording every alert Alertmanager posts to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notifications: list[Notification] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what it received."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                webhook._record(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._notifications.extend(
                Notification(
                    status=alert["status"],
                    labels=dict(alert["labels"]),
                    receiver=str(payload.get("receiver", "")),
                )
                for alert in payload.get("alerts", [])
            )

    @property
    def url(self) -> str:
        """Where Alertmanager posts."""
        return f"http://{HOST}:{self._server.server_address[1]}/alerts"

    def notifications(self) -> list[Notification]:
        """Every alert received so far, oldest first."""
        with self._lock:
            return list(self._notifications)

    def received(self, alertname: str, status: str = "firing") -> bool:
        """True once an alert called ``alertname`` arrived with ``status``."""
        return any(
            n.labels.get("alertname") == alertname and n.status == status
            for n in self.notifications()
        )

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def run_alertmanager(*, webhook: Webhook, directory: Path) -> Iterator[RunningProcess]:
    """Start Alertmanager with the project's config on a free port; stop it afterwards."""
    executable = binary("alertmanager", "prometheus-alertmanager", "alertmanager")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text(alertmanager_config(webhook.url))
    url = f"http://{HOST}:{free_port()}"
    command = [
        executable,
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",  # one instance: no gossip port
    ]
    log_path = directory / "alertmanager.log"
    with running_process(
        "alertmanager", command, cwd=directory, log_path=log_path, ready_url=f"{url}/-/ready"
    ) as process:
        yield RunningProcess(url=url, process=process, log_path=log_path)
