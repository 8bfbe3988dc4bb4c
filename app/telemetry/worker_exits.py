"""Worker exits as the gunicorn master sees them: a ``worker_exited`` event with the exit status.

gunicorn calls its ``child_exit(server, worker)`` hook with no exit status: the arbiter's
``reap_workers`` collects it with ``os.waitpid`` and keeps it to itself (it only writes a free-text
line for signals and non-zero codes). ``ExitStatuses.watch(arbiter)`` wraps that method on the
arbiter, so that just before gunicorn reaps, the status of every worker that has exited is read
with ``os.waitid(..., WNOWAIT)``: the kernel reports it and leaves the child for gunicorn to reap
exactly as before; a worker that exits in the instant between that read and gunicorn's own
``os.waitpid`` has its status read from what that call returns. ``child_exit``
(``gunicorn.conf.py``) then logs it with ``log_worker_exit``; a status still unknown is logged
as unknown rather than guessed. Runs in the master: imports no Django code.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Arbiter(Protocol):
    """The part of gunicorn's ``Arbiter`` this module uses."""

    WORKERS: dict[int, Any]
    reap_workers: Callable[[], None]


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended: an exit code, or the signal that killed it."""

    exit_code: int | None = None
    signal: int | None = None

    @classmethod
    def from_waitid(cls, result: os.waitid_result) -> ExitStatus:
        """Read ``os.waitid``'s answer (``CLD_EXITED``: a code; killed or dumped: a signal)."""
        if result.si_code == os.CLD_EXITED:
            return cls(exit_code=result.si_status)
        return cls(signal=result.si_status)

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """Read ``os.waitpid``'s status (killed: the signal; else the exit code)."""
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status))
        return cls(exit_code=os.WEXITSTATUS(status))

    @property
    def signal_name(self) -> str | None:
        """``SIGKILL`` for 9, ``None`` without a signal."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"

    @property
    def expected(self) -> bool:
        """Exit code 0 or SIGTERM: recycled or stopped on purpose, not a crash."""
        return self.exit_code == 0 or self.signal == signal.SIGTERM


class ExitStatuses:
    """Exit statuses of the master's workers, read just before gunicorn reaps them."""

    def __init__(self) -> None:
        self._seen: dict[int, ExitStatus] = {}

    def watch(self, arbiter: Arbiter) -> None:
        """Read exit statuses each time ``arbiter`` reaps (call once, in ``on_starting``).

        Before the reap, the statuses of the workers that have exited (``peek``); during it, the
        status of every child ``os.waitpid`` reaps, for a worker that exits in between (seen
        under coverage.py, whose data file makes a worker's exit slower).
        """
        reap = arbiter.reap_workers

        def reap_workers() -> None:
            self.peek(list(arbiter.WORKERS))
            waitpid = os.waitpid

            def recording_waitpid(pid: int, options: int) -> tuple[int, int]:
                reaped, status = waitpid(pid, options)
                if reaped > 0:
                    self._seen.setdefault(reaped, ExitStatus.from_wait_status(status))
                return reaped, status

            # gunicorn's arbiter calls os.waitpid from its own module: replaced for this reap
            # only (the master reaps from its main thread; a nested reap from the SIGCHLD
            # handler wraps and restores in turn).
            os.waitpid = recording_waitpid
            try:
                reap()
            finally:
                os.waitpid = waitpid

        arbiter.reap_workers = reap_workers

    def peek(self, pids: Iterable[int]) -> None:
        """Remember the status of each of ``pids`` that has exited, leaving it unreaped."""
        for pid in pids:
            try:
                result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # not (or no longer) our child
                continue
            if result is not None:
                self._seen[pid] = ExitStatus.from_waitid(result)

    def pop(self, pid: int) -> ExitStatus | None:
        """The status read for ``pid`` (forgotten afterwards), ``None`` when none was read."""
        return self._seen.pop(pid, None)


def log_worker_exit(pid: int, status: ExitStatus | None, *, timed_out: bool) -> None:
    """One ``worker_exited`` event: ``pid``, ``exit_code`` or ``signal`` (+ ``signal_name``),
    ``timed_out`` (gunicorn aborted it after ``GUNICORN_TIMEOUT``); info for a clean exit,
    error otherwise (also when the status is unknown)."""
    known = status if status is not None else ExitStatus()
    level = logging.INFO if status is not None and status.expected else logging.ERROR
    logger.log(
        level,
        "worker_exited",
        extra={
            "pid": pid,
            "exit_code": known.exit_code,
            "signal": known.signal,
            "signal_name": known.signal_name,
            "status_known": status is not None,
            "timed_out": timed_out,
        },
    )
