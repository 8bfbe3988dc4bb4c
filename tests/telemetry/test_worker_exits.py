"""The master's view of worker exits: the status read without stealing gunicorn's reap."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from app.telemetry.worker_exits import ExitStatus, ExitStatuses, log_worker_exit

pytestmark = pytest.mark.database_free

_REAL_WAITPID = os.waitpid


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def _exited(child: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Block until ``child`` has exited, leaving it unreaped (a zombie, as gunicorn finds it)."""
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    return child


def _peeked(statuses: ExitStatuses, child: subprocess.Popen[bytes]) -> ExitStatus | None:
    statuses.peek([_exited(child).pid])
    return statuses.pop(child.pid)


def test_an_exit_code_is_read_and_the_child_is_still_reaped_by_its_owner() -> None:
    child = _child("raise SystemExit(3)")

    status = _peeked(ExitStatuses(), child)

    assert status == ExitStatus(exit_code=3)
    assert child.wait(timeout=10) == 3  # still there for the owner's waitpid


def test_a_sigkill_is_read_as_signal_9() -> None:
    child = _child("import time; time.sleep(60)")
    child.kill()

    status = _peeked(ExitStatuses(), child)

    assert status is not None
    assert (status.signal, status.signal_name, status.exit_code) == (9, "SIGKILL", None)
    assert child.wait(timeout=10) == -signal.SIGKILL


def test_a_running_child_or_a_stranger_has_no_status() -> None:
    statuses = ExitStatuses()
    child = _child("import time; time.sleep(60)")
    try:
        statuses.peek([child.pid, 1])  # pid 1 is not our child

        assert statuses.pop(child.pid) is None
        assert statuses.pop(1) is None
    finally:
        child.kill()
        child.wait(timeout=10)


class FakeArbiter:
    """gunicorn's arbiter as far as ``watch`` is concerned: workers, and a reap that waits."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.WORKERS: dict[int, Any] = {child.pid: object()}
        self.child = child
        self.reaped: list[int | None] = []

    def reap_workers(self) -> None:
        self.reaped.append(self.child.wait(timeout=10))


def test_watch_reads_the_status_before_each_reap_and_the_reap_still_happens() -> None:
    child = _exited(_child("raise SystemExit(0)"))
    arbiter = FakeArbiter(child)
    statuses = ExitStatuses()
    statuses.watch(arbiter)  # type: ignore[arg-type]  # a stand-in for gunicorn's Arbiter

    arbiter.reap_workers()

    assert arbiter.reaped == [0]
    assert statuses.pop(child.pid) == ExitStatus(exit_code=0)


@pytest.mark.parametrize(
    ("status", "level", "fields"),
    [
        (
            ExitStatus(signal=9),
            logging.ERROR,
            {"exit_code": None, "signal": 9, "signal_name": "SIGKILL", "status_known": True},
        ),
        (
            ExitStatus(exit_code=0),
            logging.INFO,
            {"exit_code": 0, "signal": None, "signal_name": None, "status_known": True},
        ),
        (
            None,
            logging.ERROR,
            {"exit_code": None, "signal": None, "signal_name": None, "status_known": False},
        ),
    ],
)
def test_the_event_names_the_pid_and_the_status(
    caplog: pytest.LogCaptureFixture,
    status: ExitStatus | None,
    level: int,
    fields: dict[str, Any],
) -> None:
    with caplog.at_level(logging.INFO, logger="app.telemetry.worker_exits"):
        log_worker_exit(4242, status, timed_out=False)

    (record,) = caplog.records
    assert (record.getMessage(), record.levelno) == ("worker_exited", level)
    assert {key: getattr(record, key) for key in [*fields, "pid", "timed_out"]} == {
        **fields,
        "pid": 4242,
        "timed_out": False,
    }


class ArbiterWhoseWorkerDiesDuringTheReap(FakeArbiter):
    """The race: the worker is alive when its status is peeked and gone when gunicorn reaps."""

    def reap_workers(self) -> None:
        self.child.kill()
        self.reaped.append(self.child.wait(timeout=10))


def test_a_worker_dying_between_the_peek_and_the_reap_keeps_its_status() -> None:
    child = _child("import time; time.sleep(60)")
    arbiter = ArbiterWhoseWorkerDiesDuringTheReap(child)
    statuses = ExitStatuses()
    statuses.watch(arbiter)  # type: ignore[arg-type]  # a stand-in for gunicorn's Arbiter

    arbiter.reap_workers()

    assert arbiter.reaped == [-signal.SIGKILL]
    assert statuses.pop(child.pid) == ExitStatus(signal=signal.SIGKILL)
    assert os.waitpid is _REAL_WAITPID  # put back after the reap


@pytest.mark.parametrize(
    ("code", "expected"),
    [("raise SystemExit(3)", ExitStatus(exit_code=3)), ("raise SystemExit(0)", ExitStatus(0))],
)
def test_a_wait_status_reads_as_its_exit_code(code: str, expected: ExitStatus) -> None:
    child = _child(code)
    _, status = os.waitpid(child.pid, 0)
    child.returncode = 0  # reaped here: Popen must not wait for it again

    assert ExitStatus.from_wait_status(status) == expected
