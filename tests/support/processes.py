"""Start a server binary (gunicorn, Prometheus, Alertmanager) for a test and stop it afterwards.

``running_process`` starts the command in its own session with its output in a log file,
yields once its ready URL answers 200, and stops it (SIGTERM, then SIGKILL) at the end; the
launching itself is ``loadtests.local_server``'s, shared with ``make bench`` and ``make soak``.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtests import local_server
from loadtests.local_server import NotReadyError, answers_200

STARTUP_DEADLINE_S = 30.0
SHUTDOWN_DEADLINE_S = 15.0


@dataclass(frozen=True)
class RunningProcess:
    """A server started by ``running_process``: its base URL, process and combined log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return _log_of(self.log_path)


def _log_of(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_process(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in a new session, stdout and stderr to ``log_path``; yield it once
    ``ready_url`` answers 200, and stop it (SIGTERM, then SIGKILL) afterwards."""
    process = local_server.start(command, cwd=cwd, env=env, log_path=log_path)
    try:
        try:
            local_server.wait_until_ready(
                process, lambda: answers_200(ready_url), timeout=STARTUP_DEADLINE_S
            )
        except NotReadyError as not_ready:
            if not_ready.returncode is not None:
                pytest.fail(
                    f"{name} exited with {not_ready.returncode} while starting:\n"
                    f"{_log_of(log_path)}",
                    pytrace=False,
                )
            pytest.fail(
                f"{name} did not answer {ready_url} within {STARTUP_DEADLINE_S:.0f} s:\n"
                f"{_log_of(log_path)}",
                pytrace=False,
            )
        yield process
    finally:
        local_server.stop(process, grace_s=SHUTDOWN_DEADLINE_S)
