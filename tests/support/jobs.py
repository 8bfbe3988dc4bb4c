"""Real Celery processes beside a real gunicorn: ``run_worker``, ``run_beat``, ``jobs_env``;
``ExportTraffic`` requests exports at a steady pace for the live observability tests.

The commands are ``app.jobs.commands``' (the ones ``make run`` starts). A worker is ready
when its log says ``ready.``; beat when it logs that it is starting. Both run with exactly
the server's environment (same database, broker, storage directory), so a test starts the
server with ``jobs_env(...)`` among its overrides and the processes with ``server.env``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.jobs.commands import beat_command, worker_command
from loadtests import local_server
from tests.support.http import http
from tests.support.ports import HOST, free_port
from tests.support.waiting import poll

READY_DEADLINE_S = 30.0
STOP_GRACE_S = 10.0


def jobs_env(directory: Path, *, broker_url: str = "filesystem://") -> dict[str, str]:
    """Settings for a test stack: its own broker folder or queue, storage and beat files."""
    return {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_FILESYSTEM_BROKER_DIR": str(directory / "broker"),
        "CELERY_TASK_DEFAULT_QUEUE": f"test-{secrets.token_hex(4)}",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(directory / "beat-schedule"),
        "CELERY_WORKER_POOL": "solo",  # the task runs in the process a test kills
        "EXPORT_STORAGE_DIR": str(directory / "exports"),
        # Never the default 9465: tests ask the OS for free ports (``started`` gives each
        # process its own; this one is for make run's supervisor).
        "WORKER_METRICS_PORT": str(free_port()),
    }


@dataclass(frozen=True)
class Celery:
    """A running ``celery worker`` or ``beat`` and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int = 0  # a worker's WORKER_METRICS_PORT

    @property
    def metrics_url(self) -> str:
        """A worker's metrics endpoint (``WORKER_METRICS_PORT``)."""
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def log(self) -> str:
        """Everything it wrote so far."""
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """Its JSON log lines, parsed (other lines skipped)."""
        events = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    events.append(event)
        return events

    def kill(self) -> None:
        """``kill -9`` (its process group: nothing it started survives) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_GRACE_S)


WORKER_READY = " ready."
BEAT_READY = "beat: Starting"


def wait_ready(celery: Celery, name: str, marker: str) -> None:
    """Wait until ``celery``'s log shows ``marker``; fail the test if it exits first."""
    poll(
        lambda: (celery.process.poll(), celery.log()),
        lambda state: state[0] is not None or marker in state[1],
        timeout=READY_DEADLINE_S,
        failure=lambda state: f"{name} not ready (exit {state[0]}):\n{state[1][-3000:]}",
    )
    if celery.process.poll() is not None:
        pytest.fail(
            f"{name} exited with {celery.process.returncode}:\n{celery.log()}", pytrace=False
        )


@contextlib.contextmanager
def started(command: list[str], env: Mapping[str, str], log_path: Path) -> Iterator[Celery]:
    """A Celery process started (not yet ready), stopped at the end (SIGTERM, then SIGKILL);
    a worker serves its metrics on a free port of its own."""
    metrics_port = free_port()
    env = {**env, "WORKER_METRICS_PORT": str(metrics_port)}
    process = local_server.start(command, env=env, log_path=log_path)
    try:
        yield Celery(process, log_path, metrics_port)
    finally:
        local_server.stop(process, grace_s=STOP_GRACE_S)


def terminate(*processes: subprocess.Popen[bytes]) -> None:
    """SIGTERM every process still running at once, so they stop side by side (each context
    manager then only waits for its own)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()


def worker_of(name: str) -> list[str]:
    """The worker command with a unique node name."""
    return worker_command(hostname=f"{name}-{secrets.token_hex(3)}@%h")


@contextlib.contextmanager
def run_worker(env: Mapping[str, str], directory: Path, name: str = "worker") -> Iterator[Celery]:
    """A ``celery worker`` with ``env``, yielded once it consumes."""
    with started(worker_of(name), env, directory / f"{name}.log") as worker:
        wait_ready(worker, name, WORKER_READY)
        yield worker


@contextlib.contextmanager
def run_beat(env: Mapping[str, str], directory: Path) -> Iterator[Celery]:
    """``celery beat`` with ``env``, yielded once it started."""
    with started(beat_command(), env, directory / "beat.log") as beat:
        wait_ready(beat, "beat", BEAT_READY)
        yield beat


class ExportTraffic:
    """Requests an export (csv and json in turn) every ``interval`` s on a background thread.

    For the live observability tests: the jobs metrics need a steady trickle of exports, and a
    fault drill a faster one (set ``interval``). Counts the answers by status; any answer but
    202 is kept for the failure message.
    """

    def __init__(self, url: str, headers: Mapping[str, str], *, interval: float) -> None:
        self.url = url
        self.headers = dict(headers)
        self.interval = interval
        self.statuses: dict[int, int] = {}
        self.unexpected: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="export-traffic", daemon=True)

    def _run(self) -> None:
        formats = ("csv", "json")
        sent = 0
        while not self._stop.is_set():
            answer = http(
                "POST", self.url, json_body={"format": formats[sent % 2]}, headers=self.headers
            )
            sent += 1
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
            if answer.status != 202 and len(self.unexpected) < 5:
                self.unexpected.append(f"{answer.status} {answer.body}")
            self._stop.wait(self.interval)

    def __enter__(self) -> ExportTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
