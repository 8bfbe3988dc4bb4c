"""The service's SLO model, read from ``observability/slo.yaml``, and everything derived from it.

One place for the objectives and what follows from them, so the Prometheus SLO rules
(``observability/prometheus/slo_rules.py``), the Grafana dashboards
(``observability/grafana/dashboards/src/``), the Locust SLO gate (``loadtests/``) and the
Kubernetes generator (``k8s/generate.py``) cannot disagree: error budgets, windows and their
durations, the SLI metric names and matchers, the dashboard uids, and the Grafana and runbook
base URLs the alerts link to.

Pure (standard library and PyYAML only): the Locust pods load it beside the ``loadtests``
package (k8s/generate.py packs it into their ConfigMap; docker-compose.yml mounts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SLO_FILE = Path(__file__).resolve().parent / "slo.yaml"

# The SLIs' metrics, as django-prometheus names them (availability: responses by status;
# latency: the request latency histogram by view, which the latency SLI reads one bucket of).
AVAILABILITY_METRIC = "django_http_responses_total_by_status_view_method_total"
LATENCY_METRIC = "django_http_requests_latency_seconds_by_view_method"
# The jobs SLIs' metrics, as the worker exports them (app/exports): exports finished by
# `outcome` (succeeded | failed), and the time from request to finish of succeeded exports.
JOBS_AVAILABILITY_METRIC = "todos_exports_finished_total"
JOBS_LATENCY_METRIC = "todos_export_completion_seconds"
# The GraphQL SLI's metric (app/graphql/metrics.py): every request to /graphql/ once, by
# `outcome` (success | client_error | server_error: an error that is the server's fault, even
# when the HTTP status is 200).
GRAPHQL_OPERATIONS_METRIC = "todos_graphql_operations_total"
GRAPHQL_SERVER_ERROR = 'outcome="server_error"'

# The dashboards' uids: stable, so links (alerts' dashboard_url, runbooks) survive a rebuild.
OVERVIEW_DASHBOARD_UID = "todo-api-overview"
SLO_DASHBOARD_UID = "todo-api-slo"
DEPENDENCIES_DASHBOARD_UID = "todo-api-dependencies"
RUNTIME_DASHBOARD_UID = "todo-api-runtime"
BUSINESS_DASHBOARD_UID = "todo-api-business"
JOBS_DASHBOARD_UID = "todo-api-jobs"
GRAPHQL_DASHBOARD_UID = "todo-api-graphql"

# The `component` label of every background-jobs alert (generated and hand-written): the
# Alertmanager routes on it (observability/alertmanager/alertmanager.yml).
JOBS_COMPONENT = "jobs"

# Where the alerts link to by default: the compose stack's Grafana and the runbooks in this
# repository (relative to its root). Deployments set their own (k8s/overlays/production).
DEFAULT_GRAFANA_URL = "http://localhost:3000"
DEFAULT_RUNBOOK_URL = "docs/runbooks"

_DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[smhdwy])$")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_UNIT_NAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "y": "year"}


class SloError(ValueError):
    """The SLO file is missing a field or holds an impossible value."""


def is_duration(text: object) -> bool:
    """Whether ``text`` is a Prometheus duration of one unit, such as ``30d`` or ``5m``."""
    return isinstance(text, str) and _DURATION.match(text) is not None


def _duration(text: str) -> tuple[int, str]:
    match = _DURATION.match(text)
    if match is None:
        raise SloError(f"not a duration such as 30d: {text!r}")
    return int(match.group("count")), match.group("unit")


def duration_seconds(text: str) -> int:
    """A Prometheus duration in seconds: ``"30d"`` -> 2592000."""
    count, unit = _duration(text)
    return count * _SECONDS_PER_UNIT[unit]


def duration_text(text: str) -> str:
    """A Prometheus duration for humans: ``"30d"`` -> "30 days", ``"1h"`` -> "1 hour"."""
    count, unit = _duration(text)
    return f"{count} {_UNIT_NAMES[unit]}{'' if count == 1 else 's'}"


def duration_adjective(text: str) -> str:
    """A Prometheus duration as an adjective: ``"30d"`` -> "30-day" (the 30-day budget)."""
    count, unit = _duration(text)
    return f"{count}-{_UNIT_NAMES[unit]}"


def error_budget(objective: float) -> float:
    """The error budget of ``objective`` as a ratio: 0.001 for 0.999 (rounded off float noise)."""
    return round(1.0 - objective, 12)


@dataclass(frozen=True)
class AvailabilityObjective:
    """Share of requests that must not fail (not 5xx)."""

    objective: float

    @property
    def max_failure_ratio(self) -> float:
        """The error budget as a ratio: 1 - objective (0.001 for 99.9%)."""
        return error_budget(self.objective)


@dataclass(frozen=True)
class LatencyObjective:
    """Share of requests (``objective``) that must finish within ``threshold_seconds``."""

    objective: float
    threshold_seconds: float
    excluded_views: tuple[str, ...] = ()  # Django URL names the latency SLI leaves out

    def exclusions(self) -> tuple[str, ...]:
        """The PromQL matchers leaving out ``excluded_views`` (none when there are none)."""
        views = self.excluded_views
        return (f'view!~"{"|".join(views)}"',) if views else ()

    def bucket_le(self) -> str:
        """The ``le`` label of the threshold's histogram bucket, spelt as the client writes it."""
        # Imported here: the Locust pods run this module without prometheus_client.
        from prometheus_client.utils import floatToGoString  # noqa: PLC0415

        return str(floatToGoString(self.threshold_seconds))  # untyped in the client library


@dataclass(frozen=True)
class Links:
    """Base URLs the alerts link to: Grafana (``dashboard_url``) and the runbooks."""

    grafana_url: str = DEFAULT_GRAFANA_URL
    runbook_url: str = DEFAULT_RUNBOOK_URL

    def dashboard(self, uid: str) -> str:
        """The URL of the dashboard ``uid``."""
        return f"{self.grafana_url.rstrip('/')}/d/{uid}"

    def runbook(self, alert: str) -> str:
        """The URL of the runbook of ``alert`` (one Markdown file per alert)."""
        return f"{self.runbook_url.rstrip('/')}/{alert}.md"

    def rebase(self, url: str, to: Links) -> str:
        """``url``, one of these links, as the same link under ``to``'s bases (else unchanged)."""
        for base, new in ((self.grafana_url, to.grafana_url), (self.runbook_url, to.runbook_url)):
            prefix = base.rstrip("/") + "/"
            if url.startswith(prefix):
                return new.rstrip("/") + "/" + url[len(prefix) :]
        return url


@dataclass(frozen=True)
class Selector:
    """A metric and the label matchers that select its series (``job`` first)."""

    metric: str
    matchers: tuple[str, ...]

    def __str__(self) -> str:
        return self.metric + "{" + ",".join(self.matchers) + "}"


@dataclass(frozen=True)
class Sli:
    """One SLO as the rules see it: counters of all events and of the good or the bad ones.

    Exactly one of ``good`` and ``bad`` is set: availability-like SLIs count bad events (5xx
    responses, failed exports), latency-like ones good events (the threshold's bucket).
    """

    name: str  # the rules' `slo` label: "availability", "jobs-latency"
    objective: float
    total: Selector
    bad_events: str  # the bad events for humans: "requests answered 5xx"
    dashboard_uid: str  # the dashboard its alerts link to
    good: Selector | None = None
    bad: Selector | None = None
    component: str = ""  # the alerts' `component` label (Alertmanager routes on it); "" none

    def __post_init__(self) -> None:
        if (self.good is None) == (self.bad is None):
            raise SloError(f"SLI {self.name}: set exactly one of good and bad")

    @property
    def error_budget(self) -> float:
        """1 - objective, as a ratio."""
        return error_budget(self.objective)


@dataclass(frozen=True)
class JobsSlo:
    """The background jobs' SLOs (todo exports run by the Celery worker, scraped as ``job``).

    ``availability``: share of finished exports that succeed; ``latency``: share of succeeded
    exports finished within ``threshold_seconds`` of their request.
    """

    job: str
    availability: AvailabilityObjective
    latency: LatencyObjective

    def bucket_le(self) -> str:
        """The ``le`` label of the completion histogram's threshold bucket."""
        return self.latency.bucket_le()


@dataclass(frozen=True)
class GraphqlSlo:
    """The GraphQL endpoint's availability SLO: share of operations without a server error.

    An operation whose response carries an error that is the server's fault
    (``INTERNAL_SERVER_ERROR``, ``SERVICE_UNAVAILABLE``) fails even when answered 200; the
    client's errors (validation, limits, not found, throttled) do not burn the budget.
    """

    availability: AvailabilityObjective


@dataclass(frozen=True)
class Slo:
    """The service's SLOs as declared in the SLO file."""

    service: str
    window: str
    availability: AvailabilityObjective
    latency: LatencyObjective
    source: Path
    links: Links = field(default_factory=Links)
    jobs: JobsSlo | None = None
    graphql: GraphqlSlo | None = None

    @property
    def window_seconds(self) -> int:
        """The error-budget window in seconds."""
        return duration_seconds(self.window)

    def objectives(self) -> dict[str, float]:
        """Each SLO's objective by name, as the rules' ``slo`` label names them."""
        return {sli.name: sli.objective for sli in self.slis()}

    def error_budget(self, name: str) -> float:
        """The error budget of SLO ``name`` as a ratio (as the rules record it)."""
        return error_budget(self.objectives()[name])

    def sli(self, name: str) -> Sli:
        """The SLI of SLO ``name``."""
        return {sli.name: sli for sli in self.slis()}[name]

    def slis(self) -> list[Sli]:
        """Every SLO's SLI: the API's availability and latency, then the jobs' and GraphQL's
        (each if declared)."""
        job = f'job="{self.service}"'
        excluded = self.latency.exclusions()
        slis = [
            Sli(
                name="availability",
                objective=self.availability.objective,
                total=Selector(AVAILABILITY_METRIC, (job,)),
                bad=Selector(AVAILABILITY_METRIC, (job, 'status=~"5.."')),
                bad_events="requests answered 5xx",
                dashboard_uid=SLO_DASHBOARD_UID,
            ),
            Sli(
                name="latency",
                objective=self.latency.objective,
                total=Selector(f"{LATENCY_METRIC}_count", (job, *excluded)),
                good=Selector(
                    f"{LATENCY_METRIC}_bucket", (job, *excluded, f'le="{self.latency.bucket_le()}"')
                ),
                bad_events=f"requests slower than {self.latency.threshold_seconds:g} s",
                dashboard_uid=SLO_DASHBOARD_UID,
            ),
        ]
        if self.jobs is not None:
            slis += self.jobs_slis(self.jobs)
        if self.graphql is not None:
            slis.append(
                Sli(
                    name="graphql-availability",
                    objective=self.graphql.availability.objective,
                    total=Selector(GRAPHQL_OPERATIONS_METRIC, (job,)),
                    bad=Selector(GRAPHQL_OPERATIONS_METRIC, (job, GRAPHQL_SERVER_ERROR)),
                    bad_events="GraphQL operations answered with a server error",
                    dashboard_uid=GRAPHQL_DASHBOARD_UID,
                )
            )
        return slis

    @staticmethod
    def jobs_slis(jobs: JobsSlo) -> list[Sli]:
        """The jobs' availability and latency SLIs (``jobs-availability``, ``jobs-latency``)."""
        job = f'job="{jobs.job}"'
        return [
            Sli(
                name="jobs-availability",
                objective=jobs.availability.objective,
                total=Selector(JOBS_AVAILABILITY_METRIC, (job,)),
                bad=Selector(JOBS_AVAILABILITY_METRIC, (job, 'outcome="failed"')),
                bad_events="exports that failed",
                dashboard_uid=JOBS_DASHBOARD_UID,
                component=JOBS_COMPONENT,
            ),
            Sli(
                name="jobs-latency",
                objective=jobs.latency.objective,
                total=Selector(f"{JOBS_LATENCY_METRIC}_count", (job,)),
                good=Selector(f"{JOBS_LATENCY_METRIC}_bucket", (job, f'le="{jobs.bucket_le()}"')),
                bad_events=(
                    f"exports finished later than {jobs.latency.threshold_seconds:g} s "
                    "after their request"
                ),
                dashboard_uid=JOBS_DASHBOARD_UID,
                component=JOBS_COMPONENT,
            ),
        ]


def load_slo(path: Path | None = None) -> Slo:
    """Read and validate the SLO file (default: ``observability/slo.yaml``)."""
    source = path or DEFAULT_SLO_FILE
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise SloError(f"cannot read the SLO file {source}: {error}") from error
    return parse_slo(document, source=source)


def parse_slo(document: Any, *, source: Path) -> Slo:
    """Validate a parsed SLO document."""
    root = _mapping(document, "the document", source)
    availability, latency = _objectives(root.get("objectives"), "", source, views=True)
    window = root.get("window")
    if not isinstance(window, str) or not is_duration(window):
        raise SloError(f"{source}: window must be a duration such as 30d, got {window!r}")
    service = root.get("service")
    if not isinstance(service, str) or not service:
        raise SloError(f"{source}: service must be a non-empty string, got {service!r}")
    return Slo(
        service=service,
        window=window,
        availability=availability,
        latency=latency,
        source=source,
        links=parse_links(root.get("links", {}), source=source),
        jobs=parse_jobs(root["jobs"], source=source) if "jobs" in root else None,
        graphql=parse_graphql(root["graphql"], source=source) if "graphql" in root else None,
    )


def parse_graphql(document: Any, *, source: Path) -> GraphqlSlo:
    """Validate a ``graphql`` mapping: its availability objective."""
    graphql = _mapping(document, "graphql", source)
    objectives = _mapping(graphql.get("objectives"), "graphql.objectives", source)
    availability = _mapping(
        objectives.get("availability"), "graphql.objectives.availability", source
    )
    return GraphqlSlo(
        availability=AvailabilityObjective(
            objective=_ratio(
                availability.get("objective"), "graphql.availability.objective", source
            )
        )
    )


def parse_jobs(document: Any, *, source: Path) -> JobsSlo:
    """Validate a ``jobs`` mapping: the worker's scrape ``job`` and its two objectives."""
    jobs = _mapping(document, "jobs", source)
    availability, latency = _objectives(jobs.get("objectives"), "jobs.", source, views=False)
    job = jobs.get("job")
    if not isinstance(job, str) or not job:
        raise SloError(f"{source}: jobs.job must be a non-empty string, got {job!r}")
    return JobsSlo(job=job, availability=availability, latency=latency)


def _objectives(
    document: Any, prefix: str, source: Path, *, views: bool
) -> tuple[AvailabilityObjective, LatencyObjective]:
    """An ``objectives`` mapping (``availability``, ``latency``) under ``prefix`` (``""`` for
    the API's, ``"jobs."`` for the jobs'); ``views``: whether latency may leave views out."""
    objectives = _mapping(document, f"{prefix}objectives", source)
    availability = _mapping(
        objectives.get("availability"), f"{prefix}objectives.availability", source
    )
    latency = _mapping(objectives.get("latency"), f"{prefix}objectives.latency", source)
    excluded = (
        _names(latency.get("excluded_views", []), f"{prefix}latency.excluded_views", source)
        if views
        else ()
    )
    return (
        AvailabilityObjective(
            objective=_ratio(
                availability.get("objective"), f"{prefix}availability.objective", source
            )
        ),
        LatencyObjective(
            objective=_ratio(latency.get("objective"), f"{prefix}latency.objective", source),
            threshold_seconds=_positive(
                latency.get("threshold_seconds"), f"{prefix}latency.threshold_seconds", source
            ),
            excluded_views=excluded,
        ),
    )


def parse_links(document: Any, *, source: Path) -> Links:
    """Validate a ``links`` mapping (``grafana_url``, ``runbook_url``; each optional)."""
    links = _mapping(document, "links", source)
    unknown = set(links) - {"grafana_url", "runbook_url"}
    if unknown:
        raise SloError(f"{source}: links has unknown keys {sorted(unknown)}")
    values = {key: _url(value, f"links.{key}", source) for key, value in links.items()}
    return Links(**values)


def _mapping(value: Any, where: str, source: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SloError(f"{source}: {where} must be a mapping, got {type(value).__name__}")
    return value


def _url(value: Any, where: str, source: Path) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise SloError(f"{source}: {where} must be a URL or path, got {value!r}")
    return value


def _names(value: Any, where: str, source: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise SloError(f"{source}: {where} must be a list of names, got {value!r}")
    return tuple(value)


def _number(value: Any, where: str, source: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SloError(f"{source}: {where} must be a number, got {value!r}")
    return float(value)


def _ratio(value: Any, where: str, source: Path) -> float:
    number = _number(value, where, source)
    if not 0 < number < 1:
        raise SloError(f"{source}: {where} must be strictly between 0 and 1, got {number!r}")
    return number


def _positive(value: Any, where: str, source: Path) -> float:
    number = _number(value, where, source)
    if number <= 0:
        raise SloError(f"{source}: {where} must be positive, got {number!r}")
    return number
