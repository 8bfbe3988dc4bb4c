"""Scrape the master's metrics endpoint, and run a real Prometheus, for the end-to-end tests.

``scrape`` fetches ``server.metrics_url`` (Prometheus text, or OpenMetrics with exemplars) and
parses it with prometheus_client's own parsers; ``Scrape.value`` sums the samples that carry
the given labels. ``run_prometheus`` starts Debian's ``prometheus`` binary on a free port with a
temporary config and data directory; without the binary the calling test skips, saying how to
get it, unless ``REQUIRE_SERVICES=1`` makes that a failure (the rule of ``tests.services``).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus_text
from prometheus_client.samples import Sample

from tests.e2e.conftest import HOST, Server, free_port, http
from tests.services import services_required

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
PROMETHEUS_STARTUP_DEADLINE_S = 30.0
PROMETHEUS_SHUTDOWN_DEADLINE_S = 15.0
HOW_TO_GET_PROMETHEUS = "install Debian's prometheus package (`apt-get install -y prometheus`)"


# ------------------------------------------------------------------ scraping the app
@dataclass(frozen=True)
class Scrape:
    """One parsed answer of the metrics endpoint."""

    samples: tuple[Sample, ...] = field(repr=False)
    text: str = field(repr=False)

    def matching(self, name: str, **labels: str) -> list[Sample]:
        """The samples called ``name`` whose labels include ``labels``."""
        return [
            sample
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when there are none, as for an unseen series)."""
        return sum(sample.value for sample in self.matching(name, **labels))

    def worker_pids(self) -> set[int]:
        """The gunicorn workers the master reports (from its per-process metrics)."""
        return {
            int(sample.labels["pid"])
            for sample in self.matching("process_resident_memory_bytes", role="worker")
        }


def scrape(server: Server, *, openmetrics: bool = False) -> Scrape:
    """GET the master's metrics endpoint; fail the test unless it answers 200."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {"Accept": "text/plain"}
    response = http("GET", server.metrics_url, headers=headers)
    assert response.status == 200, response
    content_type = response.headers.get("Content-Type", "")
    if openmetrics:
        assert content_type.startswith("application/openmetrics-text"), content_type
        families = parse_openmetrics(response.body)
    else:
        assert content_type.startswith("text/plain"), content_type
        families = parse_prometheus_text(response.body)
    samples = tuple(sample for family in families for sample in family.samples)
    return Scrape(samples=samples, text=response.body)


def bearer_for_new_user(server: Server) -> dict[str, str]:
    """Register a fresh account over HTTP and return its Authorization header."""
    credentials = {"username": f"e2e-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(16)}
    registered = http("POST", f"{server.url}/api/auth/register/", json_body=credentials)
    assert registered.status == 201, registered
    token = http("POST", f"{server.url}/api/auth/token/", json_body=credentials)
    assert token.status == 200, token
    return {"Authorization": f"Bearer {token.body['access']}"}


# ------------------------------------------------------------------ a real Prometheus
def prometheus_binary() -> str:
    """The path of ``prometheus``; skips (or fails with REQUIRE_SERVICES=1) when missing."""
    found = shutil.which("prometheus")
    if found:
        return found
    message = f"prometheus is not available: {HOW_TO_GET_PROMETHEUS}"
    if services_required():
        pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
    pytest.skip(message)


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything Prometheus wrote so far."""
        return self.log_path.read_text(errors="replace")

    def api(self, endpoint: str, **params: str) -> Any:
        """GET ``/api/v1/<endpoint>`` and return its ``data``; fail on an error answer."""
        response = http("GET", f"{self.url}/api/v1/{endpoint}?{urlencode(params)}")
        assert response.status == 200, response
        assert response.body["status"] == "success", response.body
        return response.body["data"]

    def targets_report(self) -> str:
        """Each scrape target's health and last error, for failure messages."""
        targets = self.api("targets")["activeTargets"]
        return json.dumps(
            [
                {key: target.get(key) for key in ("scrapeUrl", "health", "lastError")}
                for target in targets
            ]
        )


def scrape_config(targets: Sequence[str], *, interval: str = "1s") -> dict[str, Any]:
    """A Prometheus config scraping ``targets`` (``host:port``) at ``interval``."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [{"job_name": "todo-api", "static_configs": [{"targets": [*targets]}]}],
    }


@contextlib.contextmanager
def run_prometheus(
    config: Mapping[str, Any], *, directory: Path, features: Sequence[str] = ()
) -> Iterator[Prometheus]:
    """Start Prometheus with ``config`` on a free port; stop it (SIGTERM, then SIGKILL) after."""
    binary = prometheus_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={HOST}:{port}",
    ]
    if features:
        command.append(f"--enable-feature={','.join(features)}")
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus = Prometheus(url=f"http://{HOST}:{port}", process=process, log_path=log_path)
    try:
        _wait_until_ready(prometheus)
        yield prometheus
    finally:
        _stop(process)


def _wait_until_ready(prometheus: Prometheus) -> None:
    deadline = time.monotonic() + PROMETHEUS_STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if prometheus.process.poll() is not None:
            pytest.fail(
                f"prometheus exited with {prometheus.process.returncode}:\n{prometheus.log()}",
                pytrace=False,
            )
        with contextlib.suppress(OSError):  # not listening yet
            if http("GET", f"{prometheus.url}/-/ready", timeout=2).status == 200:
                return
        time.sleep(0.1)
    pytest.fail(
        f"prometheus was not ready within {PROMETHEUS_STARTUP_DEADLINE_S:.0f} s:\n"
        f"{prometheus.log()}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=PROMETHEUS_SHUTDOWN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=PROMETHEUS_SHUTDOWN_DEADLINE_S)
