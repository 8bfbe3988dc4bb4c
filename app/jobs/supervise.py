"""``python -m app.jobs.supervise [gunicorn options]``: gunicorn, one Celery worker and beat.

What ``make run`` starts: the three processes side by side, each in its own session (so a
terminal's Ctrl-C reaches only this supervisor), their output on this terminal. On SIGINT or
SIGTERM every child gets SIGTERM (gunicorn's graceful stop, the worker's warm shutdown) and
is waited for, up to ``STOP_GRACE_S``, then killed. If one child exits by itself the others
are stopped too and its exit status is ours: a half-running stack is never left behind.
The worker gets a metrics directory of its own (``PROMETHEUS_MULTIPROC_DIR``, a fresh
temporary one removed at the end; never gunicorn's, or each endpoint would count the other's
samples) and serves its metrics on ``WORKER_METRICS_PORT`` (default 9465), as gunicorn serves
the web's on ``METRICS_PORT``. Imports no Django code (each child loads it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess  # nosec B404  # starts our own interpreter with fixed arguments
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from app.jobs.commands import PYTHON, beat_command, worker_command

STOP_GRACE_S = 20.0
_POLL_S = 0.2


def _start(command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  # nosec B603  # our own interpreter and arguments
        list(command), stdin=subprocess.DEVNULL, start_new_session=True, env=env
    )


def worker_environment(metrics_dir: str) -> dict[str, str]:
    """The worker's environment: ours, with its own metrics directory."""
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}


def stop_all(children: Sequence[subprocess.Popen[bytes]], *, grace_s: float) -> None:
    """SIGTERM every running child, wait up to ``grace_s`` for all, SIGKILL the rest."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(gunicorn_args: Sequence[str]) -> int:
    """Run the three processes until a signal or until one of them exits."""
    stopping = False

    def request_stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    worker_metrics_dir = tempfile.mkdtemp(prefix="todos-worker-metrics-")
    children = [
        _start([PYTHON, "-m", "app.serve", *gunicorn_args]),
        _start(worker_command(), worker_environment(worker_metrics_dir)),
        _start(beat_command()),
    ]
    status = 0
    while not stopping:
        exited = next((child for child in children if child.poll() is not None), None)
        if exited is not None:
            status = exited.returncode or 1
            print(  # noqa: T201  # the supervisor's one line, on the terminal
                f"app.jobs.supervise: process {exited.pid} exited with {exited.returncode}; "
                "stopping the others",
                file=sys.stderr,
            )
            break
        time.sleep(_POLL_S)
    stop_all(children, grace_s=STOP_GRACE_S)
    shutil.rmtree(worker_metrics_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
