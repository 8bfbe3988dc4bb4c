"""Scrape the master's metrics endpoint, and run a real Prometheus, for the end-to-end tests.

``scrape`` fetches ``server.metrics_url`` (Prometheus text, or OpenMetrics with exemplars) and
parses it with prometheus_client's own parsers; ``Scrape.value`` sums the samples that carry
the given labels. ``read_directory`` merges the workers' sample files of a
``PROMETHEUS_MULTIPROC_DIR`` the test gave the server, also after the master is gone.
``run_prometheus`` starts Debian's ``prometheus`` binary on a free port with a temporary config
and data directory; without the binary the calling test skips, saying how to get it, unless
``REQUIRE_SERVICES=1`` makes that a failure (``tests.support.backing_services.require``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus_text
from prometheus_client.samples import Sample

from tests.support.backing_services import binary
from tests.support.http import http
from tests.support.ports import HOST, free_port
from tests.support.processes import RunningProcess, running_process
from tests.support.servers import Server
from tests.support.waiting import poll

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


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
    return scrape_url(server.metrics_url, openmetrics=openmetrics)


def scrape_url(url: str, *, openmetrics: bool = False) -> Scrape:
    """GET a metrics endpoint (the master's, a Celery worker's); fail unless it answers 200."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {"Accept": "text/plain"}
    response = http("GET", url, headers=headers)
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


def wait_for_workers(
    server: Server, count: int, *, without: int | None = None, timeout: float = 30.0
) -> Scrape:
    """Poll until the master reports ``count`` live workers, none of them ``without``."""

    def complete(metrics: Scrape) -> bool:
        pids = metrics.worker_pids()
        return (
            metrics.value("todos_gunicorn_workers") == count
            and len(pids) == count
            and without not in pids
        )

    return poll(
        lambda: scrape(server),
        complete,
        timeout=timeout,
        failure=lambda metrics: (
            f"gunicorn did not run {count} workers (without {without}) within {timeout:g} s "
            f"(workers now {sorted(metrics.worker_pids())}):\n{server.log()[-5000:]}"
        ),
    )


def read_directory(directory: Path) -> Scrape:
    """The samples the workers left in a ``PROMETHEUS_MULTIPROC_DIR``, merged as the master
    merges them: what the last scrape would have shown, readable after the master exited."""
    merged = MultiProcessCollector.merge([str(path) for path in directory.glob("*.db")])
    samples = tuple(sample for metric in merged for sample in metric.samples)
    return Scrape(samples=samples, text="")


# ------------------------------------------------------------------ a real Prometheus
def prometheus_binary() -> str:
    """The path of ``prometheus``; skips (or fails with REQUIRE_SERVICES=1) when missing."""
    return binary("prometheus", "prometheus")


@dataclass(frozen=True)
class Prometheus(RunningProcess):
    """A running Prometheus: its base URL, process and log file."""

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
    executable = prometheus_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    command = [
        executable,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={HOST}:{port}",
    ]
    if features:
        command.append(f"--enable-feature={','.join(features)}")
    url = f"http://{HOST}:{port}"
    log_path = directory / "prometheus.log"
    with running_process(
        "prometheus", command, cwd=directory, log_path=log_path, ready_url=f"{url}/-/ready"
    ) as process:
        yield Prometheus(url=url, process=process, log_path=log_path)
