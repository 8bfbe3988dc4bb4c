"""Fixtures for the exports tests: a real gunicorn with a real Celery worker and beat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.jobs import Celery, jobs_env, run_beat, run_worker
from tests.support.servers import Server, run_server_on_new_database

# Short enough for tests: beat checks every second, a stuck job is requeued after ~4 s.
FAST_JOBS = {
    "EXPORT_CLEANUP_INTERVAL_SECONDS": "1",
    "EXPORT_REQUEUE_INTERVAL_SECONDS": "1",
    "EXPORT_TIME_LIMIT_SECONDS": "2",
    "EXPORT_STALE_GRACE_SECONDS": "2",
}


@dataclass(frozen=True)
class Stack:
    """gunicorn, one worker and beat, sharing a database, a broker and a storage directory."""

    server: Server
    worker: Celery
    beat: Celery


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """What ``make run`` runs, on the filesystem broker and a fresh database."""
    directory = tmp_path_factory.mktemp("jobs")
    overrides = {**jobs_env(directory), **FAST_JOBS}
    with (
        run_server_on_new_database(overrides, directory=directory) as server,
        run_worker(server.env, directory) as worker,
        run_beat(server.env, directory) as beat,
    ):
        yield Stack(server, worker, beat)
