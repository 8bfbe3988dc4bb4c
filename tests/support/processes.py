"""Start a server binary (gunicorn, Prometheus, Alertmanager) for a test and stop it afterwards.

``running_process`` starts the command in its own session with its output in a log file,
yields once its ready URL answers 200, and stops it (SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.http import http
from tests.support.waiting import poll

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


def _wait_until_answering(
    name: str, process: subprocess.Popen[bytes], ready_url: str, log_path: Path
) -> None:
    """Poll ``ready_url`` until it answers 200; fail with the log if the process dies or is slow."""

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode} while starting:\n{_log_of(log_path)}",
                pytrace=False,
            )
        with contextlib.suppress(OSError):  # refused or reset while still booting
            return http("GET", ready_url, timeout=2).status == 200
        return False

    poll(
        answering,
        bool,
        timeout=STARTUP_DEADLINE_S,
        interval=0.1,
        failure=lambda _: (
            f"{name} did not answer {ready_url} within {STARTUP_DEADLINE_S:.0f} s:\n"
            f"{_log_of(log_path)}"
        ),
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful shutdown); SIGKILL to the whole process group after the deadline."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group running_process created for it
        process.wait(timeout=SHUTDOWN_DEADLINE_S)


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
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(name, process, ready_url, log_path)
        yield process
    finally:
        _stop(process)
