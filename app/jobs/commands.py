"""The command lines that start a Celery worker and beat from this virtualenv.

One definition for ``make run`` (``app.jobs.supervise``) and the system tests. ``--quiet``
drops Celery's start-up banner (plain text on stdout), so every line is the service's log
format. Gossip, mingle and heartbeats are off: they need broadcast messages the filesystem
transport only half supports, and nothing here uses them. Imports no Django code.
"""

from __future__ import annotations

import sys
from pathlib import Path

PYTHON = str(Path(sys.executable))
APP = "app.jobs.celery"
_CELERY = [PYTHON, "-m", "celery", "--app", APP, "--quiet"]


def worker_command(*, pool: str | None = None, hostname: str = "worker@%h") -> list[str]:
    """``celery worker`` for the service's queue (pool and concurrency from the environment,
    ``pool`` overriding)."""
    command = [
        *_CELERY,
        "worker",
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    if pool is not None:
        command += ["--pool", pool]
    return command


def beat_command() -> list[str]:
    """``celery beat``: sends the periodic tasks (expired exports, stale jobs)."""
    return [*_CELERY, "beat", "--loglevel", "INFO"]
