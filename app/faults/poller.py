"""Keeps each worker's faults in step with the database (the switch is shared by all workers).

A daemon thread per worker reads the switch's stored setting at once and then every
``FAULT_REFRESH_SECONDS`` (default 1 s), on its own connection and with tracing suppressed, so
requests never pay for it and it adds no spans. The worker waits for that first read (at most
``FIRST_READ_WAIT_S``) before it serves, so a worker started or restarted after staff switched
faults off never serves with the environment's defaults. A database outage keeps the last
known faults (at start: the environment's defaults) and is logged once, not every second.
"""

from __future__ import annotations

import os
import threading

import structlog
from django.db import DatabaseError, connection
from opentelemetry.instrumentation.utils import suppress_instrumentation

from app.envconfig import ENV
from app.faults.config import describe
from app.faults.selectors import fault_setting_get
from app.faults.state import state

logger = structlog.get_logger(__name__)

# How long a starting worker waits for the first read: a healthy database answers in
# milliseconds; an unreachable one must not hold the worker back for its connect timeout.
FIRST_READ_WAIT_S = 2.0

_started_in: int | None = None
_lock = threading.Lock()


def refresh() -> None:
    """Apply the database's stored setting (or its absence) to this process."""
    setting = fault_setting_get()
    state.set_override(setting.to_config() if setting is not None else None)


def _read(failing: bool) -> bool:
    """One refresh; returns whether the switch is unreadable (logged on change only)."""
    try:
        with suppress_instrumentation():
            refresh()
    except DatabaseError as error:
        if not failing:
            logger.warning("fault_switch_unreadable", error=type(error).__name__)
        connection.close()
        return True
    if failing:
        logger.info("fault_switch_readable_again")
    return False


def _run(interval: float, first_read: threading.Event, stop: threading.Event) -> None:
    """Read the switch now and every ``interval`` s until ``stop`` is set (never, in a worker)."""
    failing = False
    try:
        while True:
            failing = _read(failing)
            first_read.set()
            if stop.wait(interval):
                return
    finally:
        connection.close()


def _log_start() -> None:
    """Say once per worker what it starts with, and when the switch overrides ``FAULT_*``."""
    config = state.current()  # also publishes it in the gauges
    source = "runtime" if state.overridden else "environment"
    if config.active:
        logger.warning("fault_injection_active", source=source, **describe(config))
    if state.overridden and state.defaults().active:
        logger.warning(
            "fault_environment_defaults_ignored",
            reason="the fault switch was set at runtime; manage.py reset_fault_switch "
            "returns to the FAULT_* defaults",
            **describe(state.defaults()),
        )


def start_fault_poller() -> None:
    """Start this process's poller once (in each worker after fork) and wait for its first read.

    Waits at most ``FIRST_READ_WAIT_S``: a database that does not answer by then leaves the
    worker on the environment's defaults until a later read succeeds.
    """
    global _started_in  # noqa: PLW0603  # one thread per process
    with _lock:
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
    interval = ENV.duration("FAULT_REFRESH_SECONDS", 1.0)
    first_read = threading.Event()
    threading.Thread(
        target=_run,
        args=(interval, first_read, threading.Event()),
        name="fault-poller",
        daemon=True,
    ).start()
    if not first_read.wait(FIRST_READ_WAIT_S):
        logger.warning("fault_switch_unread_at_start", waited_s=FIRST_READ_WAIT_S)
    _log_start()
