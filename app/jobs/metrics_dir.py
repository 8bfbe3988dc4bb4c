"""The worker's own ``PROMETHEUS_MULTIPROC_DIR``, made before prometheus_client is imported.

Imported first by ``app.jobs.celery``. In a ``celery worker`` process started without the
variable (a bare ``celery -A app.jobs.celery worker``), a temporary directory is made and named
in the environment, so the pool processes (forked later) write there too, and removed when the
worker's main process exits. ``make run``'s supervisor gives the worker a directory of its own
(never the web's: the two metrics endpoints would count each other's samples); deployments set
it to an ``emptyDir``. Imports nothing but the standard library.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping, Sequence

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def is_worker_command(argv: Sequence[str]) -> bool:
    """True for ``celery ... worker ...`` (not beat, not the web process importing Celery)."""
    return "worker" in argv[1:]


def ensure_worker_metrics_dir(
    environ: MutableMapping[str, str] = os.environ, argv: Sequence[str] = sys.argv
) -> str | None:
    """Make and name a temporary metrics directory for a worker that was given none; return it."""
    if environ.get(VARIABLE) or not is_worker_command(argv):
        return None
    directory = tempfile.mkdtemp(prefix="todos-worker-metrics-")
    environ[VARIABLE] = directory
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a pool process leaving
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory
