"""The SLO gate: measured load-test statistics against thresholds, as a pass/fail verdict.

Pure: no Locust import. ``measure`` reads anything shaped like Locust's stats entries and error
rows (``StatsEntry``: name, num_requests, response_times; ``StatsError``: name, error,
occurrences), ``evaluate`` compares with :class:`Thresholds`, ``render`` prints the table. The
Locust wiring (``loadtests/locustfile.py``) calls them when the run ends, on the master or the
local runner, so a distributed run is judged on the merged statistics of all workers.

Not measured: requests named ``setup: ...`` (account creation, logins, token refreshes, seed
todos: password hashing is deliberately slow and happens before the mix starts) and
``control: ...`` (the incident shape switching faults). Entries named ``job: ...`` are not
requests but background jobs as the client saw them (``loadtests/exports.py``: enqueue to
succeeded): ``measure_jobs`` reads them and the jobs check judges them against the jobs SLO
(:class:`JobsObjective`: the SLO file's jobs latency objective, else 99% within 60 s).
Failures are 5xx answers and requests that got no answer; unexpected 4xx answers are reported
but do not count (see ``loadtests/outcomes.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from loadtests.outcomes import counts_against_availability, is_throttled
from observability.slo import Slo

EXCLUDED_PREFIXES = ("setup: ", "control: ")
JOB_PREFIX = "job: "
# The jobs objective when the SLO file has no jobs section: 99% of jobs succeed within
# 60 s of being enqueued.
DEFAULT_JOBS_OBJECTIVE = 0.99
DEFAULT_JOBS_THRESHOLD_SECONDS = 60.0
REPORTED_PERCENTILES = (0.5, 0.95, 0.99)


class EntryLike(Protocol):
    """The parts of a Locust ``StatsEntry`` the gate reads."""

    @property
    def name(self) -> str: ...
    @property
    def num_requests(self) -> int: ...
    @property
    def response_times(self) -> Mapping[int, int]: ...


class ErrorLike(Protocol):
    """The parts of a Locust ``StatsError`` the gate reads."""

    @property
    def name(self) -> str: ...
    @property
    def error(self) -> object: ...
    @property
    def occurrences(self) -> int: ...


def is_measured(name: str) -> bool:
    """False for the setup and control requests the gate leaves out."""
    return not name.startswith(EXCLUDED_PREFIXES)


def is_job(name: str) -> bool:
    """True for the entries that time background jobs, not requests."""
    return name.startswith(JOB_PREFIX)


@dataclass(frozen=True)
class Measured:
    """What the run measured over the requests the gate counts."""

    requests: int
    failures: int  # 5xx answers and requests without an answer
    response_times: Mapping[int, int] = field(default_factory=dict)  # ms (Locust-rounded) -> n
    client_errors: int = 0  # unexpected 4xx answers: reported, not counted as failures
    throttled: int = 0  # of those, 429 answers
    excluded_requests: int = 0  # setup and control requests

    @property
    def failure_ratio(self) -> float:
        """Failures over requests (0 when nothing was measured)."""
        return self.failures / self.requests if self.requests else 0.0

    def percentile(self, quantile: float) -> float:
        """Response time (ms) at ``quantile``, computed as Locust's own reports do.

        Locust's ``calculate_response_time_percentile``: the slowest recorded time t such that
        at most ``int(n * quantile)`` requests took less than t (conservative: with 100
        requests, the single slowest one sets p99).
        """
        total = sum(self.response_times.values())
        if total == 0:
            return 0.0
        allowed_above = total - int(total * quantile)
        seen_above = 0
        for response_time in sorted(self.response_times, reverse=True):
            seen_above += self.response_times[response_time]
            if seen_above >= allowed_above:
                return float(response_time)
        return 0.0  # pragma: no cover - the loop always returns once all are seen


def measure(entries: Iterable[EntryLike], errors: Iterable[ErrorLike]) -> Measured:
    """Aggregate Locust's per-endpoint entries and error rows, leaving out setup and control."""
    requests = excluded = 0
    response_times: Counter[int] = Counter()
    for entry in entries:
        if is_job(entry.name):
            continue
        if not is_measured(entry.name):
            excluded += entry.num_requests
            continue
        requests += entry.num_requests
        response_times.update(entry.response_times)
    failures = client_errors = throttled = 0
    for row in errors:
        if not is_measured(row.name) or is_job(row.name):
            continue
        if counts_against_availability(row.error):
            failures += row.occurrences
        else:
            client_errors += row.occurrences
            throttled += row.occurrences if is_throttled(row.error) else 0
    return Measured(
        requests=requests,
        failures=failures,
        response_times=dict(response_times),
        client_errors=client_errors,
        throttled=throttled,
        excluded_requests=excluded,
    )


@dataclass(frozen=True)
class JobsMeasured:
    """Background jobs as the client saw them: every job, the failed ones (ended ``failed`` or
    not done by the client's deadline: no time), and the times of the succeeded ones."""

    jobs: int = 0
    failures: int = 0
    response_times: Mapping[int, int] = field(default_factory=dict)  # ms (Locust-rounded) -> n

    def late_or_failed(self, threshold_ms: float) -> int:
        """Jobs that failed, or succeeded later than ``threshold_ms``."""
        late = sum(n for time_ms, n in self.response_times.items() if time_ms > threshold_ms)
        return min(self.jobs, self.failures + late)


def measure_jobs(entries: Iterable[EntryLike], errors: Iterable[ErrorLike]) -> JobsMeasured:
    """Aggregate the ``job: ...`` entries and their error rows."""
    jobs = 0
    response_times: Counter[int] = Counter()
    for entry in entries:
        if is_job(entry.name):
            jobs += entry.num_requests
            response_times.update(entry.response_times)
    failures = sum(row.occurrences for row in errors if is_job(row.name))
    return JobsMeasured(jobs=jobs, failures=failures, response_times=dict(response_times))


@dataclass(frozen=True)
class JobsObjective:
    """``objective`` of the jobs must succeed within ``threshold_seconds`` of being enqueued."""

    objective: float = DEFAULT_JOBS_OBJECTIVE
    threshold_seconds: float = DEFAULT_JOBS_THRESHOLD_SECONDS
    source: str = "default: no jobs objective in the SLO file"

    @property
    def max_late_ratio(self) -> float:
        """The share of jobs that may fail or be late."""
        return round(1 - self.objective, 12)

    @classmethod
    def from_slo(cls, slo: Slo) -> JobsObjective:
        """The SLO file's jobs latency objective (``jobs.objectives.latency``: the share of
        exports ready within its threshold), else the default."""
        if slo.jobs is None:
            return cls()
        latency = slo.jobs.latency
        return cls(
            latency.objective,
            latency.threshold_seconds,
            f"{slo.source.name}: jobs {latency.objective:g} within {latency.threshold_seconds:g} s",
        )


@dataclass(frozen=True)
class LatencyLimit:
    """``percentile`` of requests must finish within ``limit_ms``."""

    percentile: float
    limit_ms: float
    source: str

    @property
    def label(self) -> str:
        """``p99``, ``p95``, ``p99.9``."""
        return f"p{self.percentile * 100:g}"


@dataclass(frozen=True)
class Thresholds:
    """The limits a run must stay within."""

    max_failure_ratio: float
    failure_source: str
    latency: tuple[LatencyLimit, ...]
    jobs: JobsObjective = field(default_factory=JobsObjective)

    @classmethod
    def from_slo(
        cls,
        slo: Slo,
        *,
        max_failure_ratio: float | None = None,
        p99_ms: float | None = None,
        p95_ms: float | None = None,
    ) -> Thresholds:
        """Defaults from the SLO file, each overridable (LOAD_MAX_FAILURE_RATIO, LOAD_P99_MS,
        LOAD_P95_MS): failure ratio <= 1 - availability objective, and the latency objective's
        percentile (p99 for 0.99) within the latency threshold."""
        origin = slo.source.name
        limits: dict[float, LatencyLimit] = {
            slo.latency.objective: LatencyLimit(
                percentile=slo.latency.objective,
                limit_ms=slo.latency.threshold_seconds * 1000,
                source=f"{origin}: {slo.latency.objective:g} within "
                f"{slo.latency.threshold_seconds:g} s",
            )
        }
        if p99_ms is not None:
            limits[0.99] = LatencyLimit(percentile=0.99, limit_ms=p99_ms, source="LOAD_P99_MS")
        if p95_ms is not None:
            limits[0.95] = LatencyLimit(percentile=0.95, limit_ms=p95_ms, source="LOAD_P95_MS")
        if max_failure_ratio is None:
            ratio = slo.availability.max_failure_ratio
            ratio_source = f"{origin}: availability {slo.availability.objective:g}"
        else:
            ratio, ratio_source = max_failure_ratio, "LOAD_MAX_FAILURE_RATIO"
        return cls(
            max_failure_ratio=ratio,
            failure_source=ratio_source,
            latency=tuple(sorted(limits.values(), key=lambda limit: limit.percentile)),
            jobs=JobsObjective.from_slo(slo),
        )


@dataclass(frozen=True)
class Check:
    """One threshold, what was measured, and whether it held."""

    name: str
    measured: float
    limit: float
    unit: str
    source: str
    passed: bool
    detail: str = ""

    def format(self, value: float) -> str:
        """A value in this check's unit."""
        if self.unit == "ms":
            return f"{value:g} ms"
        if self.unit == "ratio":
            return f"{value:.4g}"
        return f"{value:g}"

    def violation(self) -> str:
        """Which threshold, the measured value, the limit and by how much it was missed."""
        if self.name == "measured requests":
            return "measured requests: none were measured (was the target reachable?)"
        over = self.measured - self.limit
        times = f", {self.measured / self.limit:.1f}x the limit" if self.limit > 0 else ""
        text = (
            f"{self.name}: measured {self.format(self.measured)}, limit {self.format(self.limit)}"
            f" ({self.source}), over by {self.format(over)}{times}"
        )
        return f"{text}; {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Verdict:
    """All checks; the run passes when every one held."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when no threshold was violated."""
        return all(check.passed for check in self.checks)

    @property
    def violations(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if not check.passed)

    @property
    def exit_code(self) -> int:
        """0 on pass, 1 on fail: the load-test process's exit status."""
        return 0 if self.passed else 1


def evaluate(
    measured: Measured, thresholds: Thresholds, jobs: JobsMeasured | None = None
) -> Verdict:
    """Compare ``measured`` with every threshold; ``jobs``, when the run timed any, with the
    jobs objective (a run without jobs has no jobs check)."""
    checks = [
        Check(
            name="measured requests",
            measured=measured.requests,
            limit=1,
            unit="",
            source="at least one",
            passed=measured.requests >= 1,
        )
    ]
    if measured.requests:
        checks.append(
            Check(
                name="failure ratio",
                measured=measured.failure_ratio,
                limit=thresholds.max_failure_ratio,
                unit="ratio",
                source=thresholds.failure_source,
                passed=measured.failure_ratio <= thresholds.max_failure_ratio,
                detail=f"{measured.failures} of {measured.requests} requests failed "
                "(5xx or no answer)",
            )
        )
        for limit in thresholds.latency:
            value = measured.percentile(limit.percentile)
            checks.append(
                Check(
                    name=f"{limit.label} latency",
                    measured=value,
                    limit=limit.limit_ms,
                    unit="ms",
                    source=limit.source,
                    passed=value <= limit.limit_ms,
                )
            )
    if jobs is not None and jobs.jobs:
        checks.append(_jobs_check(jobs, thresholds.jobs))
    return Verdict(tuple(checks))


def _jobs_check(jobs: JobsMeasured, objective: JobsObjective) -> Check:
    threshold_ms = objective.threshold_seconds * 1000
    bad = jobs.late_or_failed(threshold_ms)
    return Check(
        name="jobs late/failed",
        measured=bad / jobs.jobs,
        limit=objective.max_late_ratio,
        unit="ratio",
        source=objective.source,
        passed=bad / jobs.jobs <= objective.max_late_ratio,
        detail=f"{bad} of {jobs.jobs} jobs failed or took over {objective.threshold_seconds:g} s "
        "(enqueue to succeeded, as the client saw it)",
    )


def render(
    measured: Measured,
    verdict: Verdict,
    *,
    title: str,
    notes: Sequence[str] = (),
    jobs: JobsMeasured | None = None,
) -> str:
    """The verdict table, then one line per violated threshold, then notes."""
    lines = [
        f"SLO gate: {title}",
        f"  measured {measured.requests} requests "
        f"(not counted: {measured.excluded_requests} setup/control requests)",
        f"  {'threshold':<16} {'measured':>12} {'limit':>12}  {'result':<6} source",
    ]
    for check in verdict.checks:
        if check.name == "measured requests":
            continue
        lines.append(
            f"  {check.name:<16} {check.format(check.measured):>12} "
            f"{check.format(check.limit):>12}  {'pass' if check.passed else 'FAIL':<6} "
            f"{check.source}"
        )
    percentiles = " / ".join(f"{measured.percentile(q):g}" for q in REPORTED_PERCENTILES)
    lines.append(f"  latency p50 / p95 / p99: {percentiles} ms")
    lines.append(
        f"  failures counted: {measured.failures} (5xx or no answer); "
        f"4xx answers not counted: {measured.client_errors}"
    )
    if jobs is not None and jobs.jobs:
        times = JobsPercentiles(jobs)
        lines.append(
            f"  jobs: {jobs.jobs} timed, {jobs.failures} failed or past the client's deadline; "
            f"succeeded in p50 / p99: {times.at(0.5):g} / {times.at(0.99):g} ms"
        )
    if measured.throttled:
        lines.append(
            f"  warning: {measured.throttled} requests were throttled (429): raise "
            "THROTTLE_USER_RATE / THROTTLE_AUTH_RATE on the target, or the run measures "
            "the throttle"
        )
    lines.append(f"VERDICT: {'PASS' if verdict.passed else 'FAIL'}")
    lines.extend(f"  violated: {check.violation()}" for check in verdict.violations)
    lines.extend(f"  note: {note}" for note in notes)
    return "\n".join(lines)


@dataclass(frozen=True)
class JobsPercentiles:
    """Percentiles of the succeeded jobs' times, computed as for requests."""

    jobs: JobsMeasured

    def at(self, quantile: float) -> float:
        """Time (ms) at ``quantile`` of the succeeded jobs."""
        return Measured(requests=0, failures=0, response_times=self.jobs.response_times).percentile(
            quantile
        )
