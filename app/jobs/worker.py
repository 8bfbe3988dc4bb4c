"""What the worker's processes do at start and exit (Celery's worker signals).

The main process (``worker_init``, before the pool forks) serves the worker's metrics on
``WORKER_METRICS_PORT`` (``app.jobs.metrics_server``; default 9465, ``0`` off; on ``BIND_HOST``)
and forgets samples that processes of an earlier run left in the directory. Each pool process,
once forked (``worker_process_init``, sent by the prefork and solo pools), sets up its own
tracing and Sentry (``app.telemetry.setup``) and the Celery instrumentation
(``app.jobs.tracing``), as each gunicorn worker does after its fork; when it exits
(``worker_process_shutdown``) it flushes its spans within ``EXIT_FLUSH_S`` and is marked dead in
the metrics directory (its counts kept, its exemplars dropped).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from celery.signals import celeryd_init, worker_init, worker_process_init, worker_process_shutdown

from app.envconfig import ENV
from app.jobs import metrics_server
from app.jobs.metrics import host_of
from app.jobs.metrics_dir import VARIABLE
from app.telemetry.prometheus.server import forget_worker
from app.telemetry.setup import start_process_telemetry, telemetry_enabled

logger = logging.getLogger(__name__)

EXIT_FLUSH_S = 2.0
_PID = re.compile(r"_(\d+)\.(db|json)$")


def metrics_directory() -> Path | None:
    """The worker's multiprocess directory (``app.jobs.metrics_dir`` makes one if unset).

    prometheus_client's own variable, read as it reads it (no ``*_FILE`` form): not through
    ``app.envconfig``."""
    value = os.environ.get(VARIABLE)
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(directory: Path) -> None:
    """Remove the sample and exemplar files of processes no longer running (an earlier run)."""
    for path in directory.glob("*_*.*"):
        match = _PID.search(path.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)


@celeryd_init.connect
def _clean_metrics_directory(**_: Any) -> None:
    """Before the pool starts: an earlier run's samples must not be counted again."""
    directory = metrics_directory()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        forget_dead_processes(directory)


@worker_init.connect
def _serve_metrics(sender: Any = None, **_: Any) -> None:
    """In the main process: serve the merged metrics on ``WORKER_METRICS_PORT``."""
    port = ENV.integer("WORKER_METRICS_PORT", metrics_server.DEFAULT_WORKER_METRICS_PORT, minimum=0)
    directory = metrics_directory()
    if not port or directory is None or not telemetry_enabled():
        return
    from celery.worker import state  # noqa: PLC0415  # the main process's bookkeeping

    from app.jobs.celery import celery_app  # noqa: PLC0415

    collector = metrics_server.WorkerCollector(
        hostname=host_of(getattr(sender, "hostname", None)),
        active_tasks=lambda: len(state.active_requests),
        queue_lengths=metrics_server.queue_lengths(
            celery_app, [celery_app.conf.task_default_queue]
        ),
    )
    host = ENV.string("BIND_HOST", "0.0.0.0")  # noqa: S104  # nosec B104  # as gunicorn's
    metrics_server.serve(directory=directory, host=host, port=port, collector=collector)
    logger.info("worker metrics listening on port %s", port)


@worker_process_init.connect
def _start_pool_process_telemetry(**_: Any) -> None:
    """In each pool process after the fork: traces (with the Celery instrumentation), Sentry."""
    from app.jobs.tracing import instrument_celery  # noqa: PLC0415

    start_process_telemetry()
    instrument_celery()
    _trace_inherited_connections()


def _trace_inherited_connections() -> None:
    """Query spans on the database connections made before tracing was set up here (in the
    main process before the fork, or by Celery's Django fix-up on this same signal)."""
    from django.db import connections  # noqa: PLC0415

    from app.telemetry.tracing import db_spans  # noqa: PLC0415

    for connection in connections.all():
        if not any(isinstance(w, db_spans.QuerySpans) for w in connection.execute_wrappers):
            db_spans.install(connection)


@worker_process_shutdown.connect
def _pool_process_exits(**_: Any) -> None:
    """A pool process leaves: deliver its spans in time; keep its counts, drop its exemplars."""
    from app.telemetry.tracing.provider import shutdown_tracing  # noqa: PLC0415

    shutdown_tracing(timeout_s=EXIT_FLUSH_S)
    directory = metrics_directory()
    if directory is not None:
        forget_worker(directory, os.getpid())
