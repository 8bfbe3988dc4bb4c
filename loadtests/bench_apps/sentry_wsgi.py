"""WSGI entry point for the benchmark's ``sentry-tracing`` variant (loadtests/bench.py).

The bare app (``TELEMETRY_ENABLED=false``, so the project never initialises Sentry itself)
with Sentry's own performance tracing as its documentation sets it up: default integrations
(Django enabled automatically), every request traced, envelopes sent to ``BENCH_SENTRY_DSN``
(the benchmark's local sink). gunicorn imports this in the worker after fork, like
``app.wsgi``; the benchmark names it on the command line, which overrides ``wsgi_app``.
"""

import os

import sentry_sdk

sentry_sdk.init(dsn=os.environ["BENCH_SENTRY_DSN"], traces_sample_rate=1.0)

from app.wsgi import application  # noqa: E402  # after init, as Sentry's Django guide says

__all__ = ["application"]
