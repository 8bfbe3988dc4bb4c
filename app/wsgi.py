"""WSGI entry point: gunicorn serves ``app.wsgi:application``.

Imported in each gunicorn worker after fork (the app is not preloaded), so per-process
telemetry (the OpenTelemetry SDK and its instrumentation, Sentry) starts here, once per
worker, with the settings module already named; so do the worker's background threads (the
fault switch's poller, the migration gauges' exporter).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

from app.telemetry.setup import start_process_telemetry, telemetry_enabled

start_process_telemetry()
if telemetry_enabled():  # the producer spans of the jobs requests publish
    from app.jobs.tracing import instrument_celery

    instrument_celery()

application = get_wsgi_application()

from app.faults.poller import start_fault_poller  # noqa: E402  # needs the apps loaded
from app.telemetry.prometheus.migrations import start_migrations_exporter  # noqa: E402

start_fault_poller()
if telemetry_enabled():
    start_migrations_exporter()
