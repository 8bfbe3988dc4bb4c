"""The worker's scrape-time gauges: worker up, active tasks, and the broker's queue length."""

from __future__ import annotations

import os
import secrets
import subprocess  # nosec B404  # our own interpreter
import sys
from pathlib import Path

import pytest
from celery import Celery
from prometheus_client import CollectorRegistry, generate_latest

from app.jobs.metrics_dir import ensure_worker_metrics_dir
from app.jobs.metrics_server import WorkerCollector, queue_lengths
from app.jobs.worker import forget_dead_processes
from tests.support.backing_services import REDIS_URL, reachable, require

pytestmark = pytest.mark.database_free


def _filesystem_app(directory: Path) -> Celery:
    folder = directory / "queue"
    folder.mkdir()
    return Celery(
        "t",
        broker="filesystem://",
        broker_transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(directory / "control"),
            "store_processed": False,
        },
    )


def _published(app: Celery, queue: str, count: int) -> Celery:
    for _ in range(count):
        app.send_task("exports.run", args=["x"], queue=queue)
    return app


def test_the_filesystem_queue_length_counts_waiting_messages(tmp_path: Path) -> None:
    app = _published(_filesystem_app(tmp_path), "jobs", 3)

    assert queue_lengths(app, ["jobs"])() == [("jobs", 3)]


def test_the_redis_queue_length_counts_waiting_messages() -> None:
    require("redis", reachable(REDIS_URL, default_port=6379))
    queue = f"test-length-{secrets.token_hex(4)}"
    app = _published(Celery("t", broker=REDIS_URL), queue, 2)
    try:
        assert queue_lengths(app, [queue])() == [(queue, 2)]
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)


def test_the_worker_gauges_have_the_exporters_names_and_labels() -> None:
    registry = CollectorRegistry()
    registry.register(
        WorkerCollector(hostname="vm", active_tasks=lambda: 2, queue_lengths=lambda: [("q", 5)])
    )

    text = generate_latest(registry).decode()

    assert 'celery_worker_up{hostname="vm"} 1.0' in text
    assert 'celery_worker_tasks_active{hostname="vm"} 2.0' in text
    assert 'celery_queue_length{queue_name="q"} 5.0' in text


def test_an_unreachable_broker_leaves_the_queue_length_out_not_the_scrape() -> None:
    def down() -> list[tuple[str, int]]:
        raise ConnectionError("broker down")

    registry = CollectorRegistry()
    registry.register(WorkerCollector(hostname="vm", active_tasks=lambda: 0, queue_lengths=down))

    text = generate_latest(registry).decode()

    assert 'celery_worker_up{hostname="vm"} 1.0' in text
    assert "celery_queue_length{" not in text


@pytest.mark.parametrize(
    ("argv", "made"),
    [
        (["celery", "--app", "x", "worker"], True),
        (["celery", "beat"], False),
        (["gunicorn"], False),
    ],
)
def test_only_a_worker_without_a_directory_gets_a_temporary_one(
    argv: list[str], made: bool
) -> None:
    environ: dict[str, str] = {}

    directory = ensure_worker_metrics_dir(environ, argv)

    assert (directory is not None) == made
    assert ("PROMETHEUS_MULTIPROC_DIR" in environ) == made
    assert ensure_worker_metrics_dir({"PROMETHEUS_MULTIPROC_DIR": "/given"}, argv) is None


def test_a_starting_worker_forgets_only_the_files_of_processes_gone(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # our interpreter
    gone.wait()
    alive = os.getpid()
    for pid in (gone.pid, alive):
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")
        (tmp_path / f"exemplars_{pid}.json").write_text("[]")

    forget_dead_processes(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{alive}.db",
        f"exemplars_{alive}.json",
    ]
