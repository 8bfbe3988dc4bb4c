"""gunicorn configuration for the todo service (`python -m app.serve --config gunicorn.conf.py`).

Used by `make run`, the end-to-end tests and the container image alike. Everything is tunable
from the environment: WEB_CONCURRENCY, PORT, BIND_HOST, METRICS_PORT, GUNICORN_TIMEOUT,
GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_KEEPALIVE, FORWARDED_ALLOW_IPS, LOG_LEVEL, LOG_FORMAT.

Metrics: workers write samples to PROMETHEUS_MULTIPROC_DIR (wiped when the master starts);
the master serves them, aggregated, on METRICS_PORT. The master logs each worker exit as a
`worker_exited` event with its pid and exit code or signal (app/telemetry/worker_exits.py).
Per-worker telemetry (traces, Sentry) starts in app/wsgi.py, which each worker imports after
fork, and is flushed by the worker hooks below within the graceful timeout when the worker
exits (app/telemetry/exit_flush.py).
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from app.envconfig import Env

# Every variable is read through app.envconfig; a bad value stops the master with one line
# naming the variable (SystemExit), before any worker starts.
_env = Env(error=SystemExit)

# Must be set before prometheus_client is imported anywhere (master or workers). A directory
# made here is removed when the master exits; one given by the deployment is only emptied.
_OWN_METRICS_DIR = _env.raw("PROMETHEUS_MULTIPROC_DIR") is None
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="todos-metrics-")

from app.telemetry.logging import logging_config  # noqa: E402
from app.telemetry.prometheus import server as metrics_server  # noqa: E402
from app.telemetry.setup import telemetry_enabled  # noqa: E402
from app.telemetry.tracing import protocol as otlp_protocol  # noqa: E402
from app.telemetry.tracing.exporter_choice import traces_exporters  # noqa: E402
from app.telemetry.worker_exits import ExitStatuses, log_worker_exit  # noqa: E402


def _cpu_count() -> int:
    """CPUs this process may run on (affinity-aware, unlike os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


wsgi_app = "app.wsgi:application"
# All interfaces by default: the container's contract (bandit B104); BIND_HOST narrows it.
ALL_INTERFACES = "0.0.0.0"  # nosec B104
BIND_HOST = _env.string("BIND_HOST", ALL_INTERFACES)
bind = [f"{BIND_HOST}:{_env.integer('PORT', 8000)}"]

# Sync workers: one request at a time per process; the classic (2 x CPUs) + 1 default.
worker_class = "sync"
# gunicorn also reads WEB_CONCURRENCY itself, before this file: app.serve checks it first.
workers = _env.integer("WEB_CONCURRENCY", 2 * _cpu_count() + 1, minimum=1)

# A request running past `timeout` is killed; on SIGTERM workers stop accepting, finish what
# they are serving for up to `graceful_timeout` seconds, then exit. Keep the Kubernetes
# terminationGracePeriodSeconds above graceful_timeout plus the preStop delay.
timeout = _env.integer("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env.integer("GUNICORN_GRACEFUL_TIMEOUT", 25)
keepalive = _env.integer("GUNICORN_KEEPALIVE", 5)

# Heartbeat files in memory: works with a read-only root filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # nosec B108

# Trust X-Forwarded-* only from these proxy addresses (comma-separated, or *).
forwarded_allow_ips = _env.string("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The application logs each request itself (structured); gunicorn's access log stays off and
# its own messages go through the app's structlog pipeline (same format, same fields).
accesslog = None
errorlog = "-"
loglevel = _env.string("LOG_LEVEL", "info").lower()
logconfig_dict = logging_config(level=loglevel)

# Telemetry must start in each worker after fork, so the app is not preloaded in the master.
preload_app = False
proc_name = "todo-api"

# No runtime control socket: it would be written under $HOME (read-only in containers) and
# shared by every gunicorn on the machine.
control_socket_disable = True


# ---------------------------------------------------------------- metrics endpoint (master)
METRICS_DIR = Path(_env.string("PROMETHEUS_MULTIPROC_DIR"))
METRICS_PORT = _env.integer("METRICS_PORT", metrics_server.DEFAULT_METRICS_PORT)
_worker_exits = metrics_server.WorkerExits()
_exit_statuses = ExitStatuses()
# TELEMETRY_ENABLED=off: no metrics endpoint either (and a bad value stops start-up here).
TELEMETRY_ENABLED = telemetry_enabled(_env)
# An unknown OTEL_TRACES_EXPORTER stops the master here too, not each worker as it boots.
TRACES_EXPORTERS = traces_exporters(_env) if TELEMETRY_ENABLED else ()
# OTEL_EXPORTER_OTLP_PROTOCOL=grpc without the optional `grpc` extra installed stops start-up
# here, with what to install, instead of every worker failing to boot.
if "otlp" in TRACES_EXPORTERS and not _env.boolean("OTEL_SDK_DISABLED", False):
    otlp_protocol.require_exporter(_env)


def on_starting(server: Any) -> None:
    """Before any worker exists: forget samples a previous run left in the directory, and read
    each worker's exit status when the master reaps it (for ``child_exit``)."""
    metrics_server.reset_directory(METRICS_DIR)
    _exit_statuses.watch(server)


def when_ready(server: Any) -> None:
    """Serve the aggregated metrics from the master on METRICS_PORT (0 turns it off)."""
    if METRICS_PORT and TELEMETRY_ENABLED:
        metrics_server.serve(
            directory=METRICS_DIR,
            host=BIND_HOST,
            port=METRICS_PORT,
            worker_pids=lambda: list(server.WORKERS),
            exits=_worker_exits,
        )
        server.log.info("metrics listening on port %s", METRICS_PORT)


def on_exit(server: Any) -> None:
    """The master is leaving: remove the metrics directory if this file created it."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


# ---------------------------------------------------------------- worker exit (in the worker)
# On SIGTERM a worker finishes its request, then flushes its queued spans within what is left
# of graceful_timeout and counts the rest as dropped, so it exits before the master's SIGKILL
# even with a hung collector (app/telemetry/exit_flush.py).


def post_worker_init(worker: Any) -> None:
    """In each worker, the app loaded and its signal handlers installed: note when it is told
    to stop, and freeze the start-up heap so that full garbage collections skip it."""
    from app.heap import freeze_startup_heap  # noqa: PLC0415  # worker only
    from app.telemetry.exit_flush import note_stop_signals  # noqa: PLC0415  # worker only

    note_stop_signals(graceful_timeout_s=worker.cfg.graceful_timeout)
    freeze_startup_heap()


def worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker: deliver queued spans in time, count the ones left behind.

    gunicorn also calls this in the master for a worker found already gone: nothing to do.
    """
    if worker.pid != os.getpid():
        return
    from app.telemetry.exit_flush import flush_at_exit  # noqa: PLC0415  # worker only

    flush_at_exit(graceful_timeout_s=worker.cfg.graceful_timeout)


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was recycled: log how (``worker_exited``), keep its counts, drop its
    live gauges and exemplars."""
    log_worker_exit(worker.pid, _exit_statuses.pop(worker.pid), timed_out=worker.aborted)
    _worker_exits.count += 1
    metrics_server.forget_worker(METRICS_DIR, worker.pid)
