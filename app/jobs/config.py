"""Celery's configuration, read only from the environment (``app.envconfig``); Django-free.

The broker is ``CELERY_BROKER_URL``; unset, it is ``REDIS_URL`` when that is set, else Kombu's
filesystem transport in ``CELERY_FILESYSTEM_BROKER_DIR`` (default ``<repo>/var/broker``): a
broker that needs no server, so ``make run`` works on a fresh machine. Why the filesystem and
not the SQLAlchemy transport: no extra dependency, and neither keeps an unacknowledged message
across a worker's ``kill -9`` (only Redis' visibility timeout does), so jobs are made safe by
the database instead (``app.exports.services.export_requeue_stale``, run by beat).

Delivery is at least once: ``task_acks_late`` with ``task_reject_on_worker_lost`` and a
prefetch of one, and on Redis a visibility timeout (``CELERY_VISIBILITY_TIMEOUT``) after which
a message taken by a worker that died is delivered again. Publishing is bounded
(``CELERY_BROKER_CONNECT_TIMEOUT``, ``CELERY_BROKER_SOCKET_TIMEOUT``, one quick retry): a
refusing broker fails a request at once, a silent one within a few socket timeouts (2 to 6 s
measured), and the API answers 503.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.envconfig import Env

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FILESYSTEM_BROKER = "filesystem://"
# Beat's entries: what runs periodically, and the variable holding each interval (seconds).
RUN_TASK = "exports.run"
CLEANUP_TASK = "exports.delete_expired"
REQUEUE_TASK = "exports.requeue_stale"


def broker_url(env: Env) -> str:
    """``CELERY_BROKER_URL``, else ``REDIS_URL``, else the server-less filesystem transport."""
    return env.first("CELERY_BROKER_URL", "REDIS_URL") or FILESYSTEM_BROKER


def filesystem_broker_dir(env: Env) -> Path:
    """Where the filesystem transport keeps its messages (shared by every local process)."""
    return Path(env.string("CELERY_FILESYSTEM_BROKER_DIR", str(REPO_ROOT / "var" / "broker")))


def _transport_options(env: Env, url: str) -> dict[str, Any]:
    if url.startswith(FILESYSTEM_BROKER):
        directory = filesystem_broker_dir(env)
        queue = directory / "queue"
        control = directory / "control"
        for folder in (queue, control):
            folder.mkdir(parents=True, exist_ok=True)
        # One folder both ways: every process publishes to and consumes from the same place.
        return {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "control_folder": str(control),
            "store_processed": False,
        }
    return {
        # A message a worker took and never acknowledged (killed) is delivered again after this.
        "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", 600, minimum=1),
        # How often a worker looks for such messages (Kombu's default is 60 s).
        "unacked_restore_interval": env.integer("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
        "socket_connect_timeout": env.duration("CELERY_BROKER_CONNECT_TIMEOUT", 1.0),
        # A broker that accepts connections and never answers: each command gives up after
        # this (above Kombu's 1 s BRPOP, which the worker's consumer waits on).
        "socket_timeout": env.duration("CELERY_BROKER_SOCKET_TIMEOUT", 2.0),
    }


def celery_config(env: Env) -> dict[str, Any]:
    """Every Celery setting the service uses (lower-case names, Celery 4+ style)."""
    url = broker_url(env)
    connect_timeout = env.duration("CELERY_BROKER_CONNECT_TIMEOUT", 1.0)
    return {
        "broker_url": url,
        "broker_transport_options": _transport_options(env, url),
        "broker_connection_timeout": connect_timeout,
        "broker_connection_retry_on_startup": True,
        # Publishing: one quick retry (a stale pooled connection), then the error reaches the
        # request (503).
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        # At-least-once delivery; the task bodies are idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": env.integer("CELERY_WORKER_CONCURRENCY", 1, minimum=1),
        "worker_pool": env.string("CELERY_WORKER_POOL", "prefork"),
        # Remote control needs broadcast, which the filesystem transport handles poorly.
        "worker_enable_remote_control": not url.startswith(FILESYSTEM_BROKER),
        # Beat answers `celery inspect ping -d celerybeat@<host>` while its scheduler ticks:
        # the health check of its container (docker-compose.yml, k8s/base/beat-deployment.yaml).
        "beat_enable_remote_control": not url.startswith(FILESYSTEM_BROKER),
        # One queue; deployments (and test runs) sharing a broker keep apart by its name.
        "task_default_queue": env.string("CELERY_TASK_DEFAULT_QUEUE", "celery"),
        # Job state lives in the database rows; no result backend.
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # Logging is Django's LOGGING (structlog JSON), not Celery's own handlers.
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "beat_schedule_filename": env.string(
            "CELERY_BEAT_SCHEDULE_FILENAME", str(REPO_ROOT / "var" / "celerybeat-schedule")
        ),
        "beat_schedule": {
            "delete-expired-exports": {
                "task": CLEANUP_TASK,
                "schedule": env.duration("EXPORT_CLEANUP_INTERVAL_SECONDS", 300.0),
            },
            "requeue-stale-exports": {
                "task": REQUEUE_TASK,
                "schedule": env.duration("EXPORT_REQUEUE_INTERVAL_SECONDS", 60.0),
            },
        },
    }
