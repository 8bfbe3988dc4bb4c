"""Fixtures for the exports tests: a real gunicorn with a real Celery worker and beat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.jobs.commands import beat_command
from tests.support.jobs import (
    BEAT_READY,
    WORKER_READY,
    Celery,
    jobs_env,
    started,
    terminate,
    wait_ready,
    worker_of,
)
from tests.support.ports import free_port
from tests.support.servers import Server, migrated_database, run_server, server_environment

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
    with migrated_database(directory) as database_url:
        overrides = {**jobs_env(directory), **FAST_JOBS, "DATABASE_URL": database_url}
        # The worker and beat start while gunicorn is prepared (they need only the database,
        # and they touch it only when a task runs): the stack is up seconds sooner.
        env = server_environment(overrides, port=free_port(), directory=directory)
        with (
            started(worker_of("worker"), env, directory / "worker.log") as worker,
            started(beat_command(), env, directory / "beat.log") as beat,
            run_server(overrides, directory=directory, migrate=False) as server,
        ):
            wait_ready(worker, "worker", WORKER_READY)
            wait_ready(beat, "beat", BEAT_READY)
            try:
                yield Stack(server, worker, beat)
            finally:
                terminate(worker.process, beat.process, server.process)
