"""Keeps each worker's faults in step with the database (the switch is shared by all workers).

A daemon thread per worker reads the override once a second, on its own connection and with
tracing suppressed, so requests never pay for it and it adds no spans. A database outage
keeps the last known faults and is logged once, not every second.
"""

from __future__ import annotations

import os
import threading

import structlog
from django.db import DatabaseError, connection
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.envconfig import ENV
from app.faults.selectors import fault_setting_get
from app.faults.state import state

logger = structlog.get_logger(__name__)

_started_in: int | None = None
_lock = threading.Lock()


def refresh() -> None:
    """Apply the database's override (or its absence) to this process."""
    setting = fault_setting_get()
    state.set_override(setting.to_config() if setting is not None else None)


def _run(interval: float) -> None:
    failing = False
    stop = threading.Event()
    while not stop.wait(interval):
        try:
            with suppress_instrumentation():
                refresh()
        except DatabaseError as error:
            if not failing:
                logger.warning("fault_switch_unreadable", error=type(error).__name__)
            failing = True
            connection.close()
        else:
            if failing:
                logger.info("fault_switch_readable_again")
            failing = False


def start_fault_poller() -> None:
    """Start this process's poller once (call it in each worker after fork)."""
    global _started_in  # noqa: PLW0603  # one thread per process
    with _lock:
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
    interval = ENV.duration("FAULT_REFRESH_SECONDS", 1.0)
    threading.Thread(target=_run, args=(interval,), name="fault-poller", daemon=True).start()
