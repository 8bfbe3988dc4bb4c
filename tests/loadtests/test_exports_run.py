"""One short real Locust run of the exports mix against gunicorn and a real Celery worker.

The stack is what ``make run`` starts (filesystem broker, a fresh database); Locust runs the
``exports`` mix for a few seconds: exports are enqueued, polled and downloaded under their
route templates, each finished job is timed as ``job: export``, and the gate judges the jobs
check against the jobs SLO (the default, 99% within 60 s, unless slo.yaml has one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtests.test_locust_runs import finish, start_locust, stats_rows
from tests.support.jobs import WORKER_READY, jobs_env, started, terminate, wait_ready, worker_of
from tests.support.ports import free_port
from tests.support.servers import Server, migrated_database, run_server, server_environment

pytestmark = pytest.mark.e2e

EXPORTS_RUN = {
    "LOAD_SHAPE": "smoke",
    "LOAD_MIX": "exports",
    "LOCUST_USERS": "3",
    "LOCUST_SPAWN_RATE": "3",
    "LOCUST_RUN_TIME": "8s",
    "LOAD_ACCOUNTS": "1",
    "LOAD_THINK_MIN": "0.1",
    "LOAD_THINK_MAX": "0.3",
    "LOAD_EXPORT_POLL_SECONDS": "0.2",
    # This run is about the jobs: a cold server beside a busy worker and Locust on two shared
    # cores can put one request of ~150 past 300 ms, which would decide the HTTP p99.
    "LOAD_P99_MS": "3000",
}


@pytest.fixture(scope="module")
def server_with_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn and one Celery worker sharing a database, a broker and a storage directory."""
    directory = tmp_path_factory.mktemp("exports-load")
    with migrated_database(directory) as database_url:
        overrides = {**jobs_env(directory), "DATABASE_URL": database_url}
        env = server_environment(overrides, port=free_port(), directory=directory)
        with (
            started(worker_of("worker"), env, directory / "worker.log") as worker,
            run_server(overrides, directory=directory, migrate=False) as server,
        ):
            wait_ready(worker, "worker", WORKER_READY)
            try:
                yield server
            finally:
                terminate(worker.process, server.process)


def test_the_exports_mix_enqueues_polls_downloads_and_the_gate_judges_the_jobs(
    server_with_worker: Server, tmp_path: Path
) -> None:
    prefix = tmp_path / "exports"
    run = finish(
        start_locust(
            ["--headless", "--host", server_with_worker.url, "--csv", str(prefix)],
            env=EXPORTS_RUN,
        )
    )

    run.assert_verdict(passed=True)
    rows = stats_rows(prefix)
    jobs = rows[("JOB", "job: export")]
    assert int(jobs["Request Count"]) > 0, rows
    assert int(jobs["Failure Count"]) == 0, rows
    for endpoint in [
        ("POST", "/api/todos/exports/"),
        ("GET", "/api/todos/exports/{id}/"),
        ("GET", "/api/todos/exports/{id}/download/"),
    ]:
        assert int(rows[endpoint]["Request Count"]) > 0, (endpoint, rows)
        assert int(rows[endpoint]["Failure Count"]) == 0, (endpoint, rows)
    assert not [name for _, name in rows if re.search(r"[0-9a-f]{8}-", name)], "route templates"
    assert "jobs late/failed" in run.stdout, run.output
    assert " timed, 0 failed" in run.stdout, run.output
