"""observability/slo.yaml and its model (observability/slo.py): consistent with the app's latency
buckets, loaded strictly, and what the rules, dashboards and gate derive from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.exports.metrics import COMPLETION_BUCKETS
from app.telemetry.prometheus.buckets import LATENCY_BUCKETS, SLO_LATENCY_THRESHOLD_SECONDS
from observability.slo import (
    DEFAULT_SLO_FILE,
    LatencyObjective,
    Links,
    Selector,
    Sli,
    SloError,
    duration_adjective,
    duration_seconds,
    duration_text,
    error_budget,
    load_slo,
    parse_slo,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_slo_file_declares_the_service_objectives() -> None:
    slo = load_slo(REPO_ROOT / "observability" / "slo.yaml")

    assert slo.service == "todo-api"
    assert slo.window == "30d"
    assert slo.window_seconds == 30 * 86400
    assert slo.availability.objective == 0.999
    assert slo.availability.max_failure_ratio == 0.001
    assert slo.latency.objective == 0.99


def test_the_latency_threshold_is_the_apps_and_an_exact_bucket_boundary() -> None:
    threshold = load_slo().latency.threshold_seconds

    assert threshold == SLO_LATENCY_THRESHOLD_SECONDS
    assert threshold in LATENCY_BUCKETS


def test_load_slo_reads_the_file_it_is_given_else_the_default(tmp_path: Path) -> None:
    custom = tmp_path / "slo.yaml"
    custom.write_text(DEFAULT_SLO_FILE.read_text().replace("0.999", "0.99"))

    assert load_slo(custom).availability.max_failure_ratio == 0.01
    assert load_slo().source == DEFAULT_SLO_FILE


@pytest.mark.parametrize(("objective", "budget"), [(0.999, 0.001), (0.99, 0.01), (0.9995, 0.0005)])
def test_the_error_budget_is_one_minus_the_objective_without_float_noise(
    objective: float, budget: float
) -> None:
    assert error_budget(objective) == budget


@pytest.mark.parametrize(
    ("window", "seconds", "text", "adjective"),
    [
        ("30d", 30 * 86400, "30 days", "30-day"),
        ("1h", 3600, "1 hour", "1-hour"),
        ("5m", 300, "5 minutes", "5-minute"),
        ("4w", 4 * 604800, "4 weeks", "4-week"),
    ],
)
def test_durations_read_as_seconds_and_words(
    window: str, seconds: int, text: str, adjective: str
) -> None:
    assert duration_seconds(window) == seconds
    assert duration_text(window) == text
    assert duration_adjective(window) == adjective


def test_a_duration_of_two_units_is_refused() -> None:
    with pytest.raises(SloError, match="not a duration"):
        duration_seconds("1h30m")


def test_the_latency_sli_leaves_out_the_excluded_views_in_one_matcher() -> None:
    latency = LatencyObjective(objective=0.99, threshold_seconds=0.3, excluded_views=("a", "b"))

    assert latency.exclusions() == ('view!~"a|b"',)
    assert LatencyObjective(objective=0.99, threshold_seconds=0.3).exclusions() == ()
    assert latency.bucket_le() == "0.3"


def test_links_default_to_the_compose_grafana_and_the_repositorys_runbooks() -> None:
    links = load_slo().links

    assert links.dashboard("todo-api-slo") == "http://localhost:3000/d/todo-api-slo"
    assert links.runbook("TodoApiX") == "docs/runbooks/TodoApiX.md"


def test_links_rebase_onto_another_deployments_bases() -> None:
    compose = Links()
    production = Links("https://grafana.example.com/", "https://docs.example.com/runbooks")

    assert compose.rebase(compose.dashboard("uid"), production) == production.dashboard("uid")
    assert compose.rebase(compose.runbook("Alert"), production) == (
        "https://docs.example.com/runbooks/Alert.md"
    )
    assert compose.rebase("https://elsewhere/x", production) == "https://elsewhere/x"


def test_the_slo_file_may_set_the_links(tmp_path: Path) -> None:
    document = valid()
    document["links"] = {"grafana_url": "https://g.example.com"}

    slo = parse_slo(document, source=tmp_path / "slo.yaml")

    assert slo.links == Links(grafana_url="https://g.example.com")


def valid() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(DEFAULT_SLO_FILE.read_text())
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("service",), "", "service must be a non-empty string"),
        (("window",), "30 days", "window must be a duration"),
        (("objectives", "availability", "objective"), 1.0, "strictly between 0 and 1"),
        (("objectives", "availability", "objective"), "high", "must be a number"),
        (("objectives", "latency", "objective"), 0, "strictly between 0 and 1"),
        (("objectives", "latency", "threshold_seconds"), -0.3, "must be positive"),
        (("objectives", "latency"), None, "objectives.latency must be a mapping"),
        (("links",), {"grafana": "x"}, "links has unknown keys"),
        (("links",), {"runbook_url": ""}, "links.runbook_url must be a URL"),
        (("jobs", "job"), "", "jobs.job must be a non-empty string"),
        (("jobs", "objectives", "availability", "objective"), 1, "strictly between 0 and 1"),
        (("jobs", "objectives", "latency", "threshold_seconds"), 0, "must be positive"),
        (("jobs", "objectives", "latency"), None, "jobs.objectives.latency must be a mapping"),
    ],
)
def test_a_broken_slo_file_is_refused_naming_the_field(
    path: tuple[str, ...], value: object, message: str
) -> None:
    document = valid()
    target: dict[str, object] = document
    for key in path[:-1]:
        nested = target[key]
        assert isinstance(nested, dict)
        target = nested
    target[path[-1]] = value

    with pytest.raises(SloError, match=message):
        parse_slo(document, source=Path("slo.yaml"))


def test_a_missing_slo_file_is_an_slo_error(tmp_path: Path) -> None:
    with pytest.raises(SloError, match="cannot read the SLO file"):
        load_slo(tmp_path / "absent.yaml")


def test_the_slo_file_declares_the_jobs_objectives_on_the_worker_job() -> None:
    jobs = load_slo().jobs

    assert jobs is not None
    assert jobs.job == "todo-worker"
    assert jobs.availability.objective == 0.99
    assert (jobs.latency.objective, jobs.latency.threshold_seconds) == (0.99, 60)
    assert jobs.bucket_le() == "60.0"  # as prometheus_client writes the bucket


def test_the_jobs_latency_threshold_is_a_bucket_of_the_completion_histogram() -> None:
    """The jobs-latency SLI reads that one bucket (le="60.0") instead of interpolating."""
    jobs = load_slo().jobs

    assert jobs is not None
    assert jobs.latency.threshold_seconds in COMPLETION_BUCKETS


def test_the_jobs_slos_are_optional_and_follow_the_api_ones(tmp_path: Path) -> None:
    document = valid()
    del document["jobs"]
    del document["graphql"]
    without = parse_slo(document, source=tmp_path / "slo.yaml")

    assert without.jobs is None
    assert without.graphql is None
    assert [sli.name for sli in without.slis()] == ["availability", "latency"]
    assert [sli.name for sli in load_slo().slis()] == [
        "availability",
        "latency",
        "jobs-availability",
        "jobs-latency",
        "graphql-availability",
    ]


def test_the_graphql_sli_counts_server_errors_of_every_operation_whatever_the_status() -> None:
    slo = load_slo()
    assert slo.graphql is not None
    assert slo.graphql.availability.objective == 0.999
    sli = slo.sli("graphql-availability")
    assert str(sli.total) == 'todos_graphql_operations_total{job="todo-api"}'
    assert str(sli.bad) == 'todos_graphql_operations_total{job="todo-api",outcome="server_error"}'
    assert (sli.dashboard_uid, sli.component) == ("todo-api-graphql", "")


def test_a_broken_graphql_objective_is_refused(tmp_path: Path) -> None:
    document = valid()
    document["graphql"] = {"objectives": {"availability": {"objective": 2}}}
    with pytest.raises(SloError, match=r"graphql\.availability\.objective must be strictly"):
        parse_slo(document, source=tmp_path / "slo.yaml")


def test_the_jobs_slis_read_the_worker_job_and_link_the_jobs_dashboard() -> None:
    slo = load_slo()
    availability, latency = slo.sli("jobs-availability"), slo.sli("jobs-latency")

    assert str(availability.total) == 'todos_exports_finished_total{job="todo-worker"}'
    assert str(availability.bad) == (
        'todos_exports_finished_total{job="todo-worker",outcome="failed"}'
    )
    assert str(latency.good) == (
        'todos_export_completion_seconds_bucket{job="todo-worker",le="60.0"}'
    )
    assert str(latency.total) == 'todos_export_completion_seconds_count{job="todo-worker"}'
    assert {availability.dashboard_uid, latency.dashboard_uid} == {"todo-api-jobs"}
    assert {availability.component, latency.component} == {"jobs"}
    assert slo.error_budget("jobs-latency") == 0.01


def test_an_sli_counts_either_good_or_bad_events() -> None:
    total = Selector("m", ('job="x"',))
    with pytest.raises(SloError, match="exactly one of good and bad"):
        Sli(name="s", objective=0.9, total=total, bad_events="b", dashboard_uid="d")
    with pytest.raises(SloError, match="exactly one of good and bad"):
        Sli(
            name="s",
            objective=0.9,
            total=total,
            bad_events="b",
            dashboard_uid="d",
            good=total,
            bad=total,
        )
