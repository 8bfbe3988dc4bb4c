"""The export job as a client sees it: enqueue, poll until it ends, download.

``POST /api/todos/exports/`` (202), then ``GET /api/todos/exports/{id}/`` every
``LOAD_EXPORT_POLL_SECONDS`` until the status is ``succeeded`` or ``failed`` or
``LOAD_EXPORT_DEADLINE_SECONDS`` have passed, then ``GET .../download/`` of a succeeded one.
Pure (no Locust import: the user passes its request method and Locust's ``fire``).
Each request is an ordinary Locust request named by its route template, so it counts in the
HTTP gate like any other. The job itself, from sending the POST to seeing ``succeeded``, is
reported as one more Locust entry, ``job: export`` (request type ``JOB``): its response time
is that duration, and a job that failed or missed the deadline is a failure of that entry
(with no time). Locust merges the entry across workers like any other, and the gate judges it
against the jobs SLO (``loadtests/gate.py``), never against the HTTP latency objective.

What the client sees includes the polling granularity: a job is seen succeeded up to one poll
interval after it did (1 s by default, small next to a 60 s objective).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

JOB_REQUEST_TYPE = "JOB"
EXPORT_JOB = "job: export"  # starts with gate.JOB_PREFIX
EXPORTS_PATH = "/api/todos/exports/"
STATUS_NAME = "/api/todos/exports/{id}/"
DOWNLOAD_NAME = "/api/todos/exports/{id}/download/"
FORMATS = ("csv", "json")
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_DEADLINE_SECONDS = 120.0


class JobFailedError(Exception):
    """The export ended ``failed``."""


class JobDeadlineError(Exception):
    """The export had not ended when the client stopped waiting."""


class ReplyLike(Protocol):
    """The parts of ``loadtests.calls.Reply`` read here (this module imports no Locust)."""

    @property
    def ok(self) -> bool: ...
    @property
    def body(self) -> Any: ...


class Api(Protocol):
    """A user's authenticated request: ``TodoApiUser._api``."""

    def __call__(
        self, method: str, path: str, *, name: str, expected: tuple[int, ...] = ..., body: Any = ...
    ) -> ReplyLike: ...


@dataclass
class ExportJob:
    """One export run by a simulated client; ``fire`` is Locust's ``events.request.fire``."""

    api: Api
    fire: Callable[..., object]
    sleep: Callable[[float], object]
    poll_s: float = DEFAULT_POLL_SECONDS
    deadline_s: float = DEFAULT_DEADLINE_SECONDS
    clock: Callable[[], float] = time.monotonic

    def run(self, export_format: str) -> str:
        """Enqueue, poll, download; returns the final status seen (``enqueue failed``,
        ``succeeded``, ``failed`` or ``deadline``)."""
        started = self.clock()
        reply = self.api(
            "POST", EXPORTS_PATH, name=EXPORTS_PATH, expected=(202,), body={"format": export_format}
        )
        export_id = reply.body.get("id") if reply.ok and isinstance(reply.body, dict) else None
        if not isinstance(export_id, str | int) or export_id == "":  # a UUID string today
            return "enqueue failed"  # the POST's own failure is already counted
        status_path = f"{EXPORTS_PATH}{export_id}/"
        while True:
            self.sleep(self.poll_s)
            status = self._status(status_path)
            elapsed = self.clock() - started
            if status == "succeeded":
                self._report(elapsed, None)
                self.api("GET", f"{status_path}download/", name=DOWNLOAD_NAME)
                return status
            if status == "failed":
                self._report(None, JobFailedError(f"export {export_id} failed"))
                return status
            if elapsed >= self.deadline_s:
                self._report(
                    None, JobDeadlineError(f"export {export_id} not done after {elapsed:.0f} s")
                )
                return "deadline"

    def _status(self, path: str) -> str | None:
        reply = self.api("GET", path, name=STATUS_NAME)
        body = reply.body if reply.ok and isinstance(reply.body, dict) else {}
        status = body.get("status")
        return status if isinstance(status, str) else None

    def _report(self, elapsed_s: float | None, error: Exception | None) -> None:
        self.fire(
            request_type=JOB_REQUEST_TYPE,
            name=EXPORT_JOB,
            # None: no time (a failed job is not a fast one); Locust counts it apart
            response_time=None if elapsed_s is None else round(elapsed_s * 1000),
            response_length=0,
            exception=error,
            context={},
        )
