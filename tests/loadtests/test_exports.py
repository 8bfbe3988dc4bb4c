"""The export task set and the gate's jobs check, with doubles (no server, no Locust run).

``ExportJob`` gets a scripted API, a fake clock and a recording ``fire``; the gate gets
synthetic ``job: export`` entries shaped like Locust's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loadtests.exports import (
    DOWNLOAD_NAME,
    EXPORT_JOB,
    EXPORTS_PATH,
    STATUS_NAME,
    ExportJob,
    JobDeadlineError,
    JobFailedError,
)
from loadtests.gate import (
    JobsMeasured,
    JobsObjective,
    Measured,
    Thresholds,
    evaluate,
    measure,
    measure_jobs,
    render,
)
from observability.slo import AvailabilityObjective, LatencyObjective, Slo, load_slo
from tests.support.locust_stats import Entry, Error

SLO = Slo(
    service="todo-api",
    window="30d",
    availability=AvailabilityObjective(objective=0.999),
    latency=LatencyObjective(objective=0.99, threshold_seconds=0.3),
    source=Path("slo.yaml"),
)
HEALTHY = Measured(requests=100, failures=0, response_times={20: 100})


@dataclass(frozen=True)
class Reply:
    """Shaped like loadtests.calls.Reply (which imports Locust)."""

    status: int
    body: Any
    ok: bool = True


def ok(body: object, status: int = 200) -> Reply:
    return Reply(status=status, body=body)


@dataclass
class ScriptedApi:
    """Answers the POST with ``created``, each status poll with the next of ``statuses``;
    records (method, path, name) of every call and advances the clock by ``step_s``."""

    statuses: list[str]
    clock: list[float]
    created: Reply = field(default_factory=lambda: ok({"id": "0f5c", "status": "pending"}, 202))
    step_s: float = 0.0
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, method: str, path: str, *, name: str, **_: Any) -> Reply:
        self.calls.append((method, path, name))
        self.clock[0] += self.step_s
        if method == "POST":
            return self.created
        if path.endswith("/download/"):
            return ok(None)
        return ok({"id": "0f5c", "status": self.statuses.pop(0)})


@dataclass
class Fired:
    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **event: Any) -> None:
        self.events.append(event)


def job(
    api: ScriptedApi, fired: Fired, *, poll_s: float = 1.0, deadline_s: float = 10.0
) -> ExportJob:
    def sleep(seconds: float) -> None:
        api.clock[0] += seconds

    return ExportJob(
        api=api,
        fire=fired,
        sleep=sleep,
        poll_s=poll_s,
        deadline_s=deadline_s,
        clock=lambda: api.clock[0],
    )


def test_an_export_is_enqueued_polled_until_it_succeeds_then_downloaded() -> None:
    api, fired = ScriptedApi(["pending", "running", "succeeded"], clock=[100.0]), Fired()

    assert job(api, fired).run("csv") == "succeeded"

    assert api.calls == [
        ("POST", EXPORTS_PATH, EXPORTS_PATH),
        ("GET", "/api/todos/exports/0f5c/", STATUS_NAME),
        ("GET", "/api/todos/exports/0f5c/", STATUS_NAME),
        ("GET", "/api/todos/exports/0f5c/", STATUS_NAME),
        ("GET", "/api/todos/exports/0f5c/download/", DOWNLOAD_NAME),
    ]
    # enqueue to "succeeded seen": three polls one second apart
    [event] = fired.events
    assert event["name"] == EXPORT_JOB
    assert event["request_type"] == "JOB"
    assert event["response_time"] == 3000
    assert event["exception"] is None


def test_a_failed_export_is_a_failed_job_without_a_time_and_nothing_is_downloaded() -> None:
    api, fired = ScriptedApi(["running", "failed"], clock=[0.0]), Fired()

    assert job(api, fired).run("json") == "failed"

    assert [call[2] for call in api.calls] == [EXPORTS_PATH, STATUS_NAME, STATUS_NAME]
    [event] = fired.events
    assert event["response_time"] is None
    assert isinstance(event["exception"], JobFailedError)


def test_polling_stops_at_the_deadline_and_the_job_counts_as_failed() -> None:
    api, fired = ScriptedApi(["pending"] * 100, clock=[0.0]), Fired()

    assert job(api, fired, poll_s=2.0, deadline_s=9.0).run("csv") == "deadline"

    assert len(api.calls) == 1 + 5  # the POST, then polls at 2, 4, 6, 8, 10 s
    [event] = fired.events
    assert isinstance(event["exception"], JobDeadlineError)


def test_a_refused_enqueue_times_no_job() -> None:
    refused = Reply(status=503, body=None, ok=False)
    api, fired = ScriptedApi([], clock=[0.0], created=refused), Fired()

    assert job(api, fired).run("csv") == "enqueue failed"

    assert len(api.calls) == 1
    assert fired.events == []


# ------------------------------------------------------------------ the gate's jobs check


def test_job_entries_are_judged_apart_from_the_requests() -> None:
    entries = [
        Entry("/api/todos/", 100, {20: 100}),
        Entry(EXPORT_JOB, 10, {5000: 9}),  # one more failed: no time
    ]
    errors = [Error(EXPORT_JOB, "JobFailedError('export 3 failed')", 1)]

    measured, jobs = measure(entries, errors), measure_jobs(entries, errors)

    assert (measured.requests, measured.failures, measured.excluded_requests) == (100, 0, 0)
    assert measured.percentile(0.99) == 20
    assert jobs == JobsMeasured(jobs=10, failures=1, response_times={5000: 9})


def test_the_jobs_objective_defaults_to_99_percent_within_60_seconds() -> None:
    objective = JobsObjective.from_slo(dataclasses.replace(SLO, jobs=None))
    assert (objective.objective, objective.threshold_seconds) == (0.99, 60.0)
    assert objective.source.startswith("default")


def test_the_jobs_objective_is_the_slo_files_jobs_latency_objective(tmp_path: Path) -> None:
    text = Path(load_slo().source).read_text(encoding="utf-8")
    path = tmp_path / "slo.yaml"
    path.write_text(
        text.replace("threshold_seconds: 60", "threshold_seconds: 30"), encoding="utf-8"
    )

    objective = Thresholds.from_slo(load_slo(path)).jobs

    assert (objective.objective, objective.threshold_seconds) == (0.99, 30.0)
    assert objective.source == "slo.yaml: jobs 0.99 within 30 s"


def test_jobs_late_or_failed_beyond_the_budget_fail_the_gate() -> None:
    thresholds = Thresholds.from_slo(SLO)
    within = JobsMeasured(jobs=200, failures=1, response_times={4000: 198, 61000: 1})
    late = JobsMeasured(jobs=100, failures=1, response_times={4000: 97, 61000: 2})

    assert evaluate(HEALTHY, thresholds, within).passed
    [violation] = evaluate(HEALTHY, thresholds, late).violations
    assert violation.name == "jobs late/failed"
    assert violation.measured == pytest.approx(0.03)
    assert "3 of 100 jobs failed or took over 60 s" in violation.violation()


def test_a_run_without_jobs_has_no_jobs_check_and_the_table_shows_jobs_when_there_are() -> None:
    thresholds = Thresholds.from_slo(SLO)
    assert "jobs late/failed" not in [c.name for c in evaluate(HEALTHY, thresholds).checks]
    assert "jobs late/failed" not in [
        c.name for c in evaluate(HEALTHY, thresholds, JobsMeasured()).checks
    ]
    jobs = JobsMeasured(jobs=4, failures=0, response_times={1000: 3, 2000: 1})
    text = render(HEALTHY, evaluate(HEALTHY, thresholds, jobs), title="t", jobs=jobs)
    assert "jobs late/failed" in text
    assert "jobs: 4 timed, 0 failed" in text
    assert "VERDICT: PASS" in text
