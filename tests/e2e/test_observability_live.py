"""The observability stack, proven live: dashboards, rules and alerts against the running service.

One module-wide stack: the app under gunicorn (2 workers, PostgreSQL, Redis, traces to a local
OTLP receiver) with a real Celery worker beside it (filesystem broker, its own metrics port
scraped as job ``todo-worker``), a real Prometheus (Debian package; exemplar storage on)
loading the project's own rule files with a 1 s scrape and evaluation interval, a real
Alertmanager running the project's own config with its webhook pointed here, the project's
own Locust scenario (`steady`, 4 users) driving traffic throughout, and an export requested
every ``EXPORT_INTERVAL_S``. Then:

1. every dashboard panel query (variables substituted) returns at least one series, and the
   jobs symptom alerts' expressions return none while the stack is healthy;
2. every recording rule returns data and no rule reports an evaluation error;
3. every metric name the dashboards and rules read exists in the app's or the worker's scrape;
4. an error fault switched on at runtime makes the availability page fire and reach the
   webhook, a latency fault does the same for the latency page (each within
   ``ALERT_DEADLINE_S`` of the switch), and Alertmanager holds back the availability ticket
   while its page fires (inhibition); the ``jobs`` fault (export runs fail) pages for the jobs
   availability SLO through the jobs receiver; the ``graphql:*`` fault (every GraphQL resolver
   raises, each answer still HTTP 200) pages for the GraphQL availability SLO;
5. the latency histograms' exemplars in Prometheus (requests; exports, request to finish)
   name traces the OTLP receiver received.

Runs in the PostgreSQL pass (marker ``postgres``); about 2-3 minutes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from observability.grafana.dashboards.src.queries import panel_queries, substitute
from observability.slo import load_slo
from tests.support.accounts import create_account
from tests.support.alerting import Notification, Webhook, run_alertmanager
from tests.support.backing_services import REDIS_URL
from tests.support.http import http
from tests.support.jobs import (
    WORKER_READY,
    Celery,
    ExportTraffic,
    jobs_env,
    started,
    wait_ready,
    worker_of,
)
from tests.support.ports import HOST
from tests.support.processes import RunningProcess
from tests.support.prometheus import (
    Prometheus,
    run_prometheus,
    scrape,
    scrape_config,
    scrape_url,
)
from tests.support.promql import PROMETHEUS_SERIES, is_recorded, metric_names
from tests.support.receivers import OtlpReceiver
from tests.support.rules import all_rules, recording_rules, rule_files
from tests.support.servers import BIN_DIR, REPO_ROOT, Server, manage, run_server_on_new_database
from tests.support.tools import tool_environment
from tests.support.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
logger = logging.getLogger(__name__)  # timings, shown with --log-cli-level=INFO

JOB = "todo-api"
JOBS = load_slo().jobs
assert JOBS is not None, "observability/slo.yaml declares no jobs SLOs"
WORKER_JOB = JOBS.job  # the worker's scrape job, which the jobs SLOs and alerts select
DASHBOARDS_DIR = REPO_ROOT / "observability" / "grafana" / "dashboards"
# What Grafana would substitute: all instances, a rate window several scrapes long.
VARIABLES = {
    "job": JOB,
    "instance": ".*",
    "worker_job": WORKER_JOB,
    "worker_instance": ".*",
    "__rate_interval": "30s",
    "__interval": "15s",
    "__range": "5m",
}
STAFF = {"username": "live-ops", "password": "live-ops-password-for-tests"}
TODO_ROUTES = ["/api/todos/", "/api/todos/{id}/"]
WARM_UP_DEADLINE_S = 90.0  # Locust registers its accounts, Prometheus sees the traffic
DATA_DEADLINE_S = 60.0  # every panel/recording rule has data within this
ALERT_DEADLINE_S = 120.0  # from the fault switch to the alert at the webhook
# One export every 2 s keeps every jobs panel fed; during the jobs fault drill 5 a second, so
# failures outnumber the healthy history of the burn windows within seconds.
EXPORT_INTERVAL_S = 2.0
FAULT_EXPORT_INTERVAL_S = 0.2
LOCUST_ENV = {
    "LOCUST_USERS": "4",
    "LOCUST_SPAWN_RATE": "4",
    "LOCUST_RUN_TIME": "15m",  # stopped by the fixture long before
    "LOAD_ACCOUNTS": "4",
    "LOAD_THINK_MIN": "0.2",
    "LOAD_THINK_MAX": "0.5",
}


@dataclass(frozen=True)
class Stack:
    """The running pieces the tests query."""

    server: Server
    worker: Celery
    exports: ExportTraffic
    prometheus: Prometheus
    alertmanager: RunningProcess
    webhook: Webhook
    otlp: OtlpReceiver
    staff_headers: dict[str, str]
    locust_log: Path


@contextlib.contextmanager
def run_locust(server: Server, directory: Path) -> Iterator[Path]:
    """The project's Locust scenario (steady shape) against ``server``, stopped afterwards."""
    log_path = directory / "locust.log"
    command = [
        str(BIN_DIR / "locust"),
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary",
        "--host", server.url,
        "--shape", "steady",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**tool_environment(), **LOCUST_ENV},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def prometheus_config(
    server: Server, worker: Celery, alertmanager: RunningProcess
) -> dict[str, Any]:
    """The test scrape config (the app and the worker, each its own job) with the project's
    rule files and Alertmanager."""
    config = scrape_config([f"{HOST}:{server.env['METRICS_PORT']}"])
    config["scrape_configs"].append(
        {"job_name": WORKER_JOB, "static_configs": [{"targets": [f"{HOST}:{worker.metrics_port}"]}]}
    )
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(path) for path in rule_files()]
    config["alerting"] = {
        "alertmanagers": [
            {"static_configs": [{"targets": [alertmanager.url.removeprefix("http://")]}]}
        ]
    }
    return config


def bearer(server: Server, credentials: dict[str, str]) -> dict[str, str]:
    """An Authorization header for ``credentials``."""
    response = http("POST", f"{server.url}/api/auth/token/", json_body=credentials)
    assert response.status == 200, response
    return {"Authorization": f"Bearer {response.body['access']}"}


def query(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    """The instant vector ``expr`` evaluates to now."""
    data = prometheus.api("query", query=expr)
    result: list[dict[str, Any]] = data["result"]
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("observability-live")
    with contextlib.ExitStack() as stack:
        otlp = stack.enter_context(OtlpReceiver())
        webhook = stack.enter_context(Webhook())
        server = stack.enter_context(
            run_server_on_new_database(
                {
                    **jobs_env(directory / "jobs"),
                    "WEB_CONCURRENCY": "2",
                    "REDIS_URL": REDIS_URL,
                    "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
                    "OTEL_BSP_SCHEDULE_DELAY": "200",
                },
                directory=directory / "app",
            )
        )
        manage(
            "ensure_demo_user", "--staff", "--username", STAFF["username"],
            "--password", STAFF["password"], env=server.env,
        )  # fmt: skip
        # The worker gets ready while Alertmanager and Prometheus start.
        worker = stack.enter_context(
            started(worker_of("worker"), server.env, directory / "worker.log")
        )
        staff_headers = bearer(server, STAFF)
        alertmanager = stack.enter_context(
            run_alertmanager(webhook=webhook, directory=directory / "alertmanager")
        )
        prometheus = stack.enter_context(
            run_prometheus(
                prometheus_config(server, worker, alertmanager),
                directory=directory / "prometheus",
                features=["exemplar-storage"],
            )
        )
        wait_ready(worker, "worker", WORKER_READY)
        exports = stack.enter_context(
            ExportTraffic(
                f"{server.url}/api/todos/exports/",
                create_account(server).headers,
                interval=EXPORT_INTERVAL_S,
            )
        )
        locust_log = stack.enter_context(run_locust(server, directory))
        poll(
            lambda: query(
                prometheus,
                f'sum(increase(django_http_responses_total_by_status_view_method_total{{job="{JOB}",view="todo-list"}}[1m]))',
            ),
            lambda result: bool(result) and float(result[0]["value"][1]) >= 20,
            timeout=WARM_UP_DEADLINE_S,
            failure=lambda result: (
                f"no Locust traffic seen by Prometheus within {WARM_UP_DEADLINE_S:.0f} s: "
                f"{result}; targets: {prometheus.targets_report()}\n"
                f"locust: {locust_log.read_text()[-3000:]}\nserver: {server.log()[-3000:]}"
            ),
        )
        yield Stack(
            server, worker, exports, prometheus, alertmanager, webhook, otlp, staff_headers,
            locust_log,
        )  # fmt: skip
        http("DELETE", f"{server.url}/api/faults/", headers=staff_headers)


# ------------------------------------------------------------------ 3. metric names exist
def test_every_metric_the_dashboards_and_rules_read_is_exported_by_the_app(stack: Stack) -> None:
    read: dict[str, str] = {}
    for rule in all_rules():
        for name in metric_names(rule.body["expr"]):
            read.setdefault(name, f"rule {rule.name} ({rule.file})")
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in panel_queries(json.loads(path.read_text())):
            for name in metric_names(panel.expr):
                read.setdefault(
                    name, f"dashboard {panel.dashboard_uid} panel {panel.panel_title!r}"
                )
    exported = {sample.name for sample in scrape(stack.server).samples} | {
        sample.name for sample in scrape_url(stack.worker.metrics_url).samples
    }
    missing = {
        name: where
        for name, where in read.items()
        if not is_recorded(name) and name not in PROMETHEUS_SERIES and name not in exported
    }
    assert missing == {}, f"read but exported by neither the app nor the worker: {missing}"


# ------------------------------------------------------------------ 2. recording rules
def _selector(name: str, labels: dict[str, str]) -> str:
    matchers = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{matchers}}}"


def test_every_recording_rule_returns_data_and_no_rule_fails(stack: Stack) -> None:
    selectors = {_selector(rule.name, rule.body.get("labels", {})) for rule in recording_rules()}

    def empty() -> list[str]:
        return sorted(s for s in selectors if not query(stack.prometheus, s))

    poll(
        empty,
        lambda missing: not missing,
        timeout=DATA_DEADLINE_S,
        interval=1.0,
        failure=lambda missing: f"recording rules without data: {missing}",
    )
    unhealthy = [
        f"{group['name']}/{rule['name']}: {rule.get('lastError')}"
        for group in stack.prometheus.api("rules")["groups"]
        for rule in group["rules"]
        if rule.get("health") != "ok" or rule.get("lastError")
    ]
    assert unhealthy == []
    loaded = {r["name"] for g in stack.prometheus.api("rules")["groups"] for r in g["rules"]}
    assert loaded == {rule.name for rule in all_rules()}


# ------------------------------------------------------------------ 1. dashboard panels
def test_every_dashboard_panel_query_returns_series(stack: Stack) -> None:
    panels = [
        panel
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
        for panel in panel_queries(json.loads(path.read_text()))
    ]
    assert len(panels) >= 25

    def without_data() -> list[str]:
        return [
            f"{panel.dashboard_uid} / {panel.panel_title!r} ({panel.ref_id}): {expr}"
            for panel in panels
            if not query(stack.prometheus, expr := substitute(panel.expr, VARIABLES))
        ]

    poll(
        without_data,
        lambda empty: not empty,
        timeout=DATA_DEADLINE_S,
        interval=2.0,
        failure=lambda empty: (
            "panels without data:\n" + "\n".join(empty) + f"\nexports: {stack.exports.statuses}"
            f" {stack.exports.unexpected}; targets: {stack.prometheus.targets_report()}\n"
            f"worker: {stack.worker.log()[-2000:]}"
        ),
    )


def test_the_jobs_symptom_alerts_are_silent_on_the_healthy_stack(stack: Stack) -> None:
    """Before any fault: a worker up, a short queue, no failures. An expression that selects
    labels the worker does not export (TodoApiJobsWorkerDown's absent()) would fire here."""
    symptoms = [rule for rule in all_rules() if rule.is_alert and rule.file == "jobs.yml"]
    assert len(symptoms) == 3
    assert query(stack.prometheus, f'celery_worker_up{{job="{WORKER_JOB}"}} == 1')
    firing = {rule.name: query(stack.prometheus, rule.body["expr"]) for rule in symptoms}
    assert {name: result for name, result in firing.items() if result} == {}


def test_the_jobs_dashboard_is_among_the_panels_proven() -> None:
    """Its panels are checked above like every other; here: it exists and reads the worker."""
    dashboard = json.loads((DASHBOARDS_DIR / "todo-api-jobs.json").read_text())
    queries = panel_queries(dashboard)
    assert len(queries) >= 15
    assert sum("$worker_job" in query.expr for query in queries) >= 8


# ------------------------------------------------------------------ 5. exemplars → traces
@pytest.mark.parametrize(
    "selector",
    [
        f'django_http_requests_latency_seconds_by_view_method_bucket{{job="{JOB}"}}',
        f'todos_export_completion_seconds_bucket{{job="{WORKER_JOB}"}}',
    ],
    ids=["requests", "exports"],
)
def test_latency_exemplars_name_traces_the_collector_received(stack: Stack, selector: str) -> None:

    def exemplar_traces() -> set[str]:
        series = stack.prometheus.api(
            "query_exemplars", query=selector, start=str(time.time() - 600), end=str(time.time())
        )
        return {e["labels"]["trace_id"] for item in series for e in item["exemplars"]}

    traces = poll(
        exemplar_traces,
        bool,
        timeout=DATA_DEADLINE_S,
        failure=lambda _: f"Prometheus stored no exemplars on {selector}",
    )
    received = poll(
        lambda: {span.trace_id for span in stack.otlp.spans},
        lambda received: traces <= received,
        timeout=10.0,
        failure=lambda received: (
            f"exemplar traces never received as spans: {sorted(traces - received)[:5]}"
        ),
    )
    assert traces <= received


# ------------------------------------------------------------------ 4. alerts fire and arrive
def _prometheus_alert_state(stack: Stack, alertname: str) -> str:
    states = [
        alert["state"]
        for alert in stack.prometheus.api("alerts")["alerts"]
        if alert["labels"]["alertname"] == alertname
    ]
    return "firing" if "firing" in states else (states[0] if states else "inactive")


def _switch_fault(stack: Stack, body: dict[str, Any]) -> float:
    response = http(
        "PUT", f"{stack.server.url}/api/faults/", json_body=body, headers=stack.staff_headers
    )
    assert response.status == 200, response
    return time.monotonic()


def _assert_page_arrives(stack: Stack, alertname: str, switched_at: float) -> Notification:
    poll(
        lambda: _prometheus_alert_state(stack, alertname),
        lambda state: state == "firing",
        timeout=ALERT_DEADLINE_S,
        interval=1.0,
        failure=lambda state: (
            f"{alertname} is {state} in Prometheus {ALERT_DEADLINE_S:.0f} s "
            f"after the fault; SLIs: {query(stack.prometheus, 'slo:sli_error:ratio_rate5m')}"
        ),
    )
    firing_after = time.monotonic() - switched_at
    remaining = max(ALERT_DEADLINE_S - firing_after, 1.0)
    poll(
        lambda: stack.webhook.received(alertname),
        bool,
        timeout=remaining,
        interval=1.0,
        failure=lambda _: (
            f"{alertname} fired in Prometheus after {firing_after:.0f} s but did "
            f"not reach the webhook within {ALERT_DEADLINE_S:.0f} s: "
            f"{stack.webhook.notifications()}\n{stack.alertmanager.log()[-3000:]}"
        ),
    )
    logger.info(
        "%s: firing in Prometheus %.1f s and at the webhook %.1f s after the fault switch",
        alertname,
        firing_after,
        time.monotonic() - switched_at,
    )
    notification = next(
        n for n in stack.webhook.notifications() if n.labels["alertname"] == alertname
    )
    assert notification.labels["severity"] == "page"
    assert notification.labels["service"] == JOB
    return notification


def test_an_error_fault_pages_for_availability_through_alertmanager(stack: Stack) -> None:
    assert not stack.webhook.received("TodoApiAvailabilityBudgetFastBurn"), "fired before"
    switched_at = _switch_fault(stack, {"error_rate": 0.5, "routes": TODO_ROUTES})
    _assert_page_arrives(stack, "TodoApiAvailabilityBudgetFastBurn", switched_at)


def _alertmanager_state(stack: Stack, alertname: str) -> dict[str, Any]:
    """Alertmanager's status of ``alertname`` (state, inhibitedBy), or {} if it has none."""
    response = http(
        "GET", f"{stack.alertmanager.url}/api/v2/alerts?filter=alertname%3D%22{alertname}%22"
    )
    assert response.status == 200, response
    return response.body[0]["status"] if response.body else {}


def test_the_availability_ticket_is_inhibited_while_its_page_fires(stack: Stack) -> None:
    """The slow-burn ticket fires in Prometheus too, but Alertmanager suppresses it."""
    status = poll(
        lambda: _alertmanager_state(stack, "TodoApiAvailabilityBudgetSlowBurn"),
        lambda status: bool(status.get("inhibitedBy")),
        timeout=30.0,
        interval=1.0,
        failure=lambda status: f"the availability ticket is not inhibited: {status}",
    )
    assert status["state"] == "suppressed"
    assert _prometheus_alert_state(stack, "TodoApiAvailabilityBudgetSlowBurn") == "firing"
    assert not stack.webhook.received("TodoApiAvailabilityBudgetSlowBurn"), (
        stack.webhook.notifications()
    )


def test_a_latency_fault_pages_for_latency_through_alertmanager(stack: Stack) -> None:
    assert not stack.webhook.received("TodoApiLatencyBudgetFastBurn"), "fired before"
    switched_at = _switch_fault(stack, {"latency_ms": 400, "routes": TODO_ROUTES})
    _assert_page_arrives(stack, "TodoApiLatencyBudgetFastBurn", switched_at)


def test_a_jobs_fault_pages_for_jobs_availability_through_the_jobs_receiver(stack: Stack) -> None:
    """The fault switch's ``jobs`` target makes every export run fail in the worker."""
    alertname = "TodoApiJobsAvailabilityBudgetFastBurn"
    assert not stack.webhook.received(alertname), "fired before"
    switched_at = _switch_fault(stack, {"error_rate": 1.0, "routes": ["jobs"]})
    stack.exports.interval = FAULT_EXPORT_INTERVAL_S
    try:
        notification = _assert_page_arrives(stack, alertname, switched_at)
    finally:
        stack.exports.interval = EXPORT_INTERVAL_S
    assert notification.labels["component"] == "jobs"
    assert notification.labels["slo"] == "jobs-availability"
    assert notification.receiver == "jobs-page"
    failed = query(
        stack.prometheus,
        f'sum(todos_exports_finished_total{{job="{WORKER_JOB}", outcome="failed"}})',
    )
    assert failed, "no failed export counted"
    assert float(failed[0]["value"][1]) > 0, failed


def test_a_graphql_resolver_fault_pages_for_graphql_availability_with_http_200(
    stack: Stack,
) -> None:
    """The fault switch's ``graphql:*`` target fails every resolver of the Locust GraphQL
    user's operations: the answers stay 200 (no 5xx is counted), the GraphQL SLI sees them."""
    alertname = "TodoApiGraphqlAvailabilityBudgetFastBurn"
    assert not stack.webhook.received(alertname), "fired before"
    five_hundreds = query(
        stack.prometheus,
        f'sum(django_http_responses_total_by_status_view_method_total{{job="{JOB}", '
        'view="graphql", status=~"5.."}) or vector(0)',
    )
    switched_at = _switch_fault(stack, {"error_rate": 1.0, "routes": ["graphql:*"]})
    notification = _assert_page_arrives(stack, alertname, switched_at)
    assert notification.labels["slo"] == "graphql-availability"
    failed = query(
        stack.prometheus,
        f'sum(todos_graphql_operations_total{{job="{JOB}", outcome="server_error"}})',
    )
    assert failed, "no GraphQL server error counted"
    assert float(failed[0]["value"][1]) > 0, failed
    after = query(
        stack.prometheus,
        f'sum(django_http_responses_total_by_status_view_method_total{{job="{JOB}", '
        'view="graphql", status=~"5.."}) or vector(0)',
    )
    assert after[0]["value"][1] == five_hundreds[0]["value"][1], "GraphQL answered 5xx"
