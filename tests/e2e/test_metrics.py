"""The metrics of the real gunicorn deployment, as the master serves them on METRICS_PORT.

Workers record samples in prometheus_client's multiprocess directory; the master adds them up
on each scrape. These tests count requests exactly across several workers, through a worker
killed and replaced, check the exposed latency buckets, the business, model, database and
cache metrics, that metrics stay off the public port and probes stay uncounted, and that a
restart starts from zero.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from app.telemetry.prometheus.buckets import LATENCY_BUCKETS, SLO_LATENCY_THRESHOLD_SECONDS
from tests.support.accounts import create_account
from tests.support.http import http
from tests.support.prometheus import scrape, wait_for_workers
from tests.support.servers import Server, migrated_database, run_server, run_server_on_new_database

pytestmark = pytest.mark.e2e

WORKERS = 3
REQUESTS_BEFORE_KILL = 60
REQUESTS_AFTER_KILL = 30
CLIENT_THREADS = 6  # more connections than workers: every worker gets some of them
REPLACEMENT_DEADLINE_S = 30.0

RESPONSES = "django_http_responses_total_by_status_view_method_total"
LATENCY = "django_http_requests_latency_seconds_by_view_method"
LATENCY_WITH_MIDDLEWARES = "django_http_requests_latency_including_middlewares_seconds"
TODO_LIST_OK = {"status": "200", "view": "todo-list", "method": "GET"}
TODO_LIST = {"view": "todo-list", "method": "GET"}


@dataclass(frozen=True)
class Deployment:
    """A running server, its multiprocess metrics directory and a user's bearer header."""

    server: Server
    metrics_dir: Path
    auth: dict[str, str]

    def list_todos(self, count: int) -> None:
        """Send ``count`` authenticated GET /api/todos/, each on a new connection; all 200."""
        url = f"{self.server.url}/api/todos/"
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            statuses = list(
                pool.map(lambda _: http("GET", url, headers=self.auth).status, range(count))
            )
        assert statuses == [200] * count

    def counted(self) -> tuple[float, float]:
        """(200 responses, latency observations) of GET todo-list, summed over all workers."""
        metrics = scrape(self.server)
        responses = metrics.value(RESPONSES, **TODO_LIST_OK)
        return responses, metrics.value(f"{LATENCY}_count", **TODO_LIST)

    def responses_recorded_by(self, pid: int) -> float:
        """The GET todo-list 200s in worker ``pid``'s own counter file."""
        path = self.metrics_dir / f"counter_{pid}.db"
        if not path.exists():
            return 0.0
        merged: list[Metric] = MultiProcessCollector.merge([str(path)], accumulate=True)
        return sum(
            sample.value
            for family in merged
            for sample in family.samples
            if sample.name == RESPONSES and TODO_LIST_OK.items() <= sample.labels.items()
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Three gunicorn workers on a fresh database, with a known multiprocess directory."""
    directory = tmp_path_factory.mktemp("metrics")
    metrics_dir = directory / "prometheus-multiproc"
    metrics_dir.mkdir()  # the operator's directory: it exists before gunicorn starts
    overrides = {"WEB_CONCURRENCY": str(WORKERS), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with run_server_on_new_database(overrides, directory=directory) as server:
        wait_for_workers(server, WORKERS, timeout=REPLACEMENT_DEADLINE_S)
        yield Deployment(server, metrics_dir, create_account(server).headers)


def test_it_counts_every_request_exactly_once_across_all_workers(deployment: Deployment) -> None:
    """N requests spread over 3 workers add exactly N to the master's aggregate."""
    before = scrape(deployment.server)
    assert before.value("todos_gunicorn_workers") == WORKERS
    workers = before.worker_pids()
    assert len(workers) == WORKERS, before.matching("process_resident_memory_bytes")
    assert len(before.matching("process_resident_memory_bytes", role="master")) == 1
    responses_before, latencies_before = deployment.counted()
    by_worker_before = {pid: deployment.responses_recorded_by(pid) for pid in workers}

    deployment.list_todos(REQUESTS_BEFORE_KILL)

    responses_after, latencies_after = deployment.counted()
    assert responses_after - responses_before == REQUESTS_BEFORE_KILL
    assert latencies_after - latencies_before == REQUESTS_BEFORE_KILL
    # The total really is the sum of several workers' own counts, not one worker's view.
    served = {pid: deployment.responses_recorded_by(pid) - by_worker_before[pid] for pid in workers}
    assert sum(served.values()) == REQUESTS_BEFORE_KILL, served
    assert sum(1 for count in served.values() if count) >= 2, served


def test_a_killed_worker_loses_no_counts_and_its_replacement_double_counts_none(
    deployment: Deployment,
) -> None:
    """SIGKILL the busiest worker: its counts stay, and new requests add exactly once."""
    deployment.list_todos(REQUESTS_AFTER_KILL)  # so some worker surely holds counts
    before = scrape(deployment.server)
    workers = before.worker_pids()
    exits_before = before.value("todos_gunicorn_worker_exits_total")
    victim = max(workers, key=deployment.responses_recorded_by)
    assert deployment.responses_recorded_by(victim) > 0
    counted_before = deployment.counted()

    os.kill(victim, signal.SIGKILL)
    after_kill = wait_for_workers(
        deployment.server, WORKERS, without=victim, timeout=REPLACEMENT_DEADLINE_S
    )

    assert after_kill.worker_pids() - workers, "no new worker pid appeared"
    assert after_kill.value("todos_gunicorn_worker_exits_total") == exits_before + 1
    assert deployment.counted() == counted_before, "the killed worker's counts were lost"

    deployment.list_todos(REQUESTS_AFTER_KILL)

    responses, latencies = deployment.counted()
    assert responses - counted_before[0] == REQUESTS_AFTER_KILL
    assert latencies - counted_before[1] == REQUESTS_AFTER_KILL


@pytest.mark.parametrize("histogram", [LATENCY, LATENCY_WITH_MIDDLEWARES])
def test_it_exposes_exactly_the_configured_latency_buckets(
    deployment: Deployment, histogram: str
) -> None:
    """The buckets are LATENCY_BUCKETS (SLO threshold 0.3 included), not the library's own."""
    deployment.list_todos(1)
    labels = TODO_LIST if histogram == LATENCY else {}
    buckets = scrape(deployment.server).matching(f"{histogram}_bucket", **labels)

    exposed = [sample.labels["le"] for sample in buckets]
    assert exposed == [floatToGoString(bound) for bound in LATENCY_BUCKETS]
    assert floatToGoString(SLO_LATENCY_THRESHOLD_SECONDS) == "0.3"
    assert {"0.3", "+Inf"} <= set(exposed)


def test_business_model_database_and_cache_metrics_follow_the_api(deployment: Deployment) -> None:
    """Create two todos, complete one, delete one: every layer's counters move."""
    server, auth = deployment.server, deployment.auth
    todos = f"{server.url}/api/todos/"
    before = scrape(server)

    created = [
        http("POST", todos, json_body={"title": f"metric {n}"}, headers=auth) for n in range(2)
    ]
    assert [response.status for response in created] == [201, 201], created
    first, second = (f"{todos}{response.body['id']}/" for response in created)
    completed = http("PATCH", first, json_body={"completed": True}, headers=auth)
    assert completed.status == 200, completed
    deleted = http("DELETE", second, headers=auth)
    assert deleted.status == 204, deleted

    after = scrape(server)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("todos_created_total") == 2
    assert grew("todos_completed_total") == 1
    assert grew("todos_deleted_total") == 1
    assert grew("django_model_inserts_total", model="todo") == 2
    assert grew("django_model_updates_total", model="todo") == 1
    assert grew("django_model_deletes_total", model="todo") == 1
    vendor = connection.vendor  # the temporary database is of the suite's kind
    assert grew("django_db_execute_total", alias="default", vendor=vendor) > 0
    assert after.matching("django_db_query_duration_seconds_count", vendor=vendor)
    assert grew("django_cache_get_total") > 0  # DRF's throttles read their history
    assert grew(RESPONSES, status="201", view="todo-list", method="POST") == 2


def test_metrics_are_not_served_on_the_public_port(deployment: Deployment) -> None:
    """The API port answers /metrics with 404; only the separate metrics port serves them."""
    assert http("GET", f"{deployment.server.url}/metrics").status == 404
    assert scrape(deployment.server).value("todos_gunicorn_workers") == WORKERS


def test_probes_are_not_counted_as_requests(deployment: Deployment) -> None:
    """/healthz and /readyz answer before the metrics middleware; an API request is counted."""
    server = deployment.server
    requests = "django_http_requests_before_middlewares_total"
    before = scrape(server).value(requests)

    for path in ["/healthz", "/readyz"] * 10:
        assert http("GET", f"{server.url}{path}").status == 200

    after_probes = scrape(server)
    assert after_probes.value(requests) == before
    assert not after_probes.matching(RESPONSES, view="healthz")
    assert not after_probes.matching(RESPONSES, view="readyz")
    deployment.list_todos(1)
    assert scrape(server).value(requests) == before + 1


def test_a_restart_starts_counting_from_zero(tmp_path: Path) -> None:
    """Files a previous run (or anything else) left in the directory are removed at start."""
    metrics_dir = tmp_path / "prometheus-multiproc"
    metrics_dir.mkdir()  # the operator's directory: it exists before gunicorn starts
    with migrated_database(tmp_path) as database_url:
        overrides = {"DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        with run_server(overrides, directory=tmp_path, migrate=False) as first:
            Deployment(first, metrics_dir, create_account(first).headers).list_todos(5)
            assert scrape(first).value(RESPONSES, **TODO_LIST_OK) == 5
        left_over = {path.name for path in metrics_dir.iterdir()}
        assert any(name.startswith("counter_") for name in left_over), left_over
        junk = metrics_dir / "counter_99999.db"
        junk.write_bytes(os.urandom(4096))

        with run_server(overrides, directory=tmp_path, migrate=False) as second:
            remaining = {path.name for path in metrics_dir.iterdir()}
            assert junk.name not in remaining
            assert not (left_over & remaining), left_over & remaining
            assert scrape(second).value(RESPONSES, **TODO_LIST_OK) == 0
            Deployment(second, metrics_dir, create_account(second).headers).list_todos(1)
            assert scrape(second).value(RESPONSES, **TODO_LIST_OK) == 1
