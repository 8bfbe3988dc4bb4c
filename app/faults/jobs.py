"""The ``jobs`` fault target: export runs fail on purpose while it is switched on.

The fault switch (API, admin, ``FAULT_*``) with ``jobs`` among its routes makes each export
run raise ``InjectedFaultError`` at the switch's ``error_rate``, inside the task: the run is
marked failed and counted as failed (``celery_task_failed_total``,
``todos_exports_finished_total{outcome="failed"}``), its consumer span is an error, so the jobs
alerts can be fired. The worker runs no poller: each run reads the switch's stored setting
(one query, not traced, like the poller's).
"""

from __future__ import annotations

import random

from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.faults.config import JOBS_TARGET, faults_allowed
from app.faults.middleware import InjectedFaultError
from app.faults.poller import refresh
from app.faults.state import state

_random = random.SystemRandom()


def jobs_fail() -> None:
    """Raise ``InjectedFaultError`` at the switch's jobs error rate (never in production)."""
    if not faults_allowed():
        return
    with suppress_instrumentation():
        refresh()
    rate = state.current().jobs_error_rate
    if rate > 0 and _random.random() < rate:
        raise InjectedFaultError(f"injected fault in the {JOBS_TARGET} target")
