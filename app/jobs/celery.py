"""The Celery application: ``celery -A app.jobs.celery worker`` / ``beat``.

Configured from the environment only (``app.jobs.config``). Celery's Django fix-up sets Django
up in the worker (``DJANGO_SETTINGS_MODULE``), which applies the project's ``LOGGING``; the
``setup_logging`` receiver below keeps Celery from installing its own handlers, so worker
lines are the same structlog JSON as the web's. Tasks are found in ``app.exports.tasks``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from app.envconfig import ENV
from app.jobs.config import celery_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

celery_app = Celery("todos")
celery_app.conf.update(celery_config(ENV))
celery_app.autodiscover_tasks(["app.exports"])


@setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Celery leaves logging alone: Django's ``LOGGING`` (structlog) is already configured."""
    import django  # noqa: PLC0415  # the worker's process, after the fix-up set the module

    django.setup()


# Import the run-log receivers (they connect on import).
from app.jobs import telemetry  # noqa: E402, F401
