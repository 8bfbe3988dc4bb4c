"""The Celery application: ``celery -A app.jobs.celery worker`` / ``beat``.

Configured from the environment only (``app.jobs.config``). Celery's Django fix-up sets Django
up in the worker (``DJANGO_SETTINGS_MODULE``), which applies the project's ``LOGGING``; the
``setup_logging`` receiver below keeps Celery from installing its own handlers, so worker
lines are the same structlog JSON as the web's. Tasks are found in ``app.exports.tasks``.
Metrics and traces: ``app.jobs.metrics``, ``app.jobs.worker``, ``app.jobs.tracing``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from app.jobs.metrics_dir import ensure_worker_metrics_dir

ensure_worker_metrics_dir()  # before prometheus_client is imported anywhere in a worker

from celery import Celery  # noqa: E402
from celery.signals import celeryd_init, setup_logging  # noqa: E402

from app.envconfig import ENV  # noqa: E402
from app.jobs.config import celery_config  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

celery_app = Celery("todos")
celery_app.conf.update(celery_config(ENV))
celery_app.autodiscover_tasks(["app.exports"])


@celeryd_init.connect  # a worker, before its privilege check warns
@setup_logging.connect  # a worker or beat, where Celery would set up its own logging
def _use_django_logging(**_: Any) -> None:
    """Celery leaves logging alone: Django's ``LOGGING`` (structlog) configures it, and Python
    warnings (Celery's, Kombu's) become log events instead of plain text on stderr."""
    import django  # noqa: PLC0415  # the worker's process, after the fix-up set the module

    django.setup()
    logging.captureWarnings(True)


# Receivers that connect on import: the run log line first (its task_postrun must run while
# the consumer span is current), the task metrics, the worker's process lifecycle.
from app.jobs import telemetry  # noqa: E402, F401, I001
from app.jobs import metrics  # noqa: E402, F401
from app.jobs import worker  # noqa: E402, F401
