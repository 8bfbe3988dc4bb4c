"""The Prometheus rules and Alertmanager config: generated, valid, tested and conventional."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.prometheus import slo_rules
from observability.slo import load_slo, parse_slo
from tests.support.backing_services import run_tool
from tests.support.rules import (
    ROOT,
    RULES_DIR,
    Rule,
    alertmanager_config,
    alerts,
    all_rules,
    rule_files,
    rule_test_files,
)

DASHBOARDS_DIR = ROOT / "observability" / "grafana" / "dashboards"
ALERT_ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}


def test_the_committed_slo_rules_are_what_the_slo_file_generates() -> None:
    committed = (RULES_DIR / "slo.yml").read_text(encoding="utf-8")
    assert committed == slo_rules.render(load_slo()), "stale: run `make generate`"
    assert slo_rules.main(["--check"]) == 0


def test_the_generated_rules_follow_the_objectives(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "observability" / "slo.yaml").read_text())
    document["objectives"]["availability"]["objective"] = 0.995
    document["objectives"]["latency"]["threshold_seconds"] = 0.5
    document["objectives"]["latency"]["excluded_views"] = []
    text = slo_rules.render(parse_slo(document, source=tmp_path / "slo.yaml"))
    assert "> (14.4 * 0.005)" in text
    assert 'le="0.5"' in text
    assert "view!~" not in text


def test_each_slo_has_a_page_and_a_ticket_alert() -> None:
    burn = {rule.name: rule.body["labels"] for rule in alerts() if rule.file == "slo.yml"}
    assert burn == {
        "TodoApiAvailabilityBudgetFastBurn": {
            "severity": "page",
            "slo": "availability",
            "service": "todo-api",
        },
        "TodoApiAvailabilityBudgetSlowBurn": {
            "severity": "ticket",
            "slo": "availability",
            "service": "todo-api",
        },
        "TodoApiLatencyBudgetFastBurn": {
            "severity": "page",
            "slo": "latency",
            "service": "todo-api",
        },
        "TodoApiLatencyBudgetSlowBurn": {
            "severity": "ticket",
            "slo": "latency",
            "service": "todo-api",
        },
        **{
            f"TodoApiJobs{kind}Budget{speed}Burn": {
                "severity": severity,
                "slo": f"jobs-{kind.lower()}",
                "service": "todo-api",
                "component": "jobs",
            }
            for kind in ("Availability", "Latency")
            for speed, severity in (("Fast", "page"), ("Slow", "ticket"))
        },
        **{
            f"TodoApiGraphqlAvailabilityBudget{speed}Burn": {
                "severity": severity,
                "slo": "graphql-availability",
                "service": "todo-api",
            }
            for speed, severity in (("Fast", "page"), ("Slow", "ticket"))
        },
    }


ALERT_NAME = r"TodoApi[A-Z][A-Za-z]+"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule.name)
def test_every_alert_follows_the_conventions(rule: Rule) -> None:
    assert re.fullmatch(ALERT_NAME, rule.name)
    assert rule.body["labels"]["severity"] in {"page", "ticket"}
    assert rule.body["labels"]["service"] == load_slo().service
    assert set(rule.body["annotations"]) == ALERT_ANNOTATIONS
    assert rule.body["annotations"]["runbook_url"] == load_slo().links.runbook(rule.name)


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule.name)
def test_every_alert_links_a_dashboard_that_exists(rule: Rule) -> None:
    url = rule.body["annotations"]["dashboard_url"]
    match = re.fullmatch(re.escape(load_slo().links.dashboard("")) + r"([a-z0-9-]+)", url)
    assert match, url
    uids = {json.loads(path.read_text())["uid"] for path in DASHBOARDS_DIR.glob("*.json")}
    assert match.group(1) in uids, f"{rule.name} links {url}; dashboards: {sorted(uids)}"


def test_every_rule_selects_the_service_job_only() -> None:
    """The API's job, except the background jobs' rules: the worker's job only."""
    slo = load_slo()
    assert slo.jobs is not None
    for rule in all_rules():
        jobs = set(re.findall(r'job="([^"]*)"', rule.body["expr"]))
        jobs_rule = rule.file == "jobs.yml" or str(
            rule.body.get("labels", {}).get("slo", "")
        ).startswith("jobs-")
        allowed = {slo.jobs.job} if jobs_rule else {slo.service}
        assert jobs <= allowed, f"{rule.name} selects jobs {jobs}"
        assert "job=~" not in rule.body["expr"], rule.name


def test_every_jobs_alert_carries_the_jobs_component() -> None:
    """The Alertmanager routes on it; the API's alerts carry none."""
    for rule in alerts():
        jobs_alert = rule.name.startswith("TodoApiJobs")
        component = rule.body["labels"].get("component")
        assert component == ("jobs" if jobs_alert else None), rule.name


def test_every_alert_has_a_promtool_test_where_it_fires_and_one_where_it_is_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in rule_test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule.name for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_recording_rule_has_an_expression_test() -> None:
    tested = " ".join(
        check["expr"]
        for path in rule_test_files()
        for case in yaml.safe_load(path.read_text())["tests"]
        for check in case.get("promql_expr_test", [])
    )
    recorded = {rule.name for rule in all_rules() if not rule.is_alert}
    # the per-window SLIs share one expression template: testing some windows covers all
    untested = {
        name
        for name in recorded
        if name not in tested and not name.startswith("slo:sli_error:ratio_rate")
    }
    assert untested == set()
    assert "slo:sli_error:ratio_rate" in tested


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    run_tool("prometheus", "promtool", "check", "rules", *map(str, rule_files()))
    run_tool("prometheus", "promtool", "test", "rules", *map(str, rule_test_files()))


def test_amtool_accepts_the_alertmanager_config(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager_config("http://127.0.0.1:9/webhook"))
    checked = run_tool("alertmanager", "amtool", "check-config", str(config))
    assert "3 inhibit rules" in checked


MATCHER = re.compile(r'(?P<name>\w+)="(?P<value>[^"]*)"')


def _matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether every (equality) matcher of ``route`` holds for ``labels``."""
    for matcher in route.get("matchers", []):
        found = MATCHER.fullmatch(matcher)
        assert found, f'only name="value" matchers are understood here: {matcher}'
        if labels.get(found["name"], "") != found["value"]:
            return False
    return True


def _route(labels: dict[str, str]) -> str:
    """The receiver the Alertmanager config sends an alert with ``labels`` to."""
    config = yaml.safe_load(alertmanager_config("http://127.0.0.1:9/webhook"))
    receiver: str = config["route"]["receiver"]
    routes: list[dict[str, Any]] = config["route"].get("routes", [])
    while route := next((route for route in routes if _matches(route, labels)), None):
        receiver, routes = route.get("receiver", receiver), route.get("routes", [])
    return receiver


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"severity": "page", "component": "jobs"}, "jobs-page"),
        ({"severity": "ticket", "component": "jobs"}, "jobs-ticket"),
        ({"severity": "page"}, "page"),
        ({"severity": "ticket"}, "ticket"),
    ],
)
def test_jobs_alerts_go_to_the_jobs_receivers(labels: dict[str, str], receiver: str) -> None:
    assert _route({"service": "todo-api", **labels}) == receiver


def test_no_worker_holds_back_the_other_jobs_alerts_and_no_api_scrape_does_not() -> None:
    config = yaml.safe_load(alertmanager_config("http://127.0.0.1:9/webhook"))
    rules = {tuple(rule["source_matchers"]): rule for rule in config["inhibit_rules"]}
    worker = rules[('alertname="TodoApiJobsWorkerDown"',)]
    assert 'component="jobs"' in worker["target_matchers"]
    api = rules[('alertname="TodoApiNoScrapes"',)]
    assert "component" in api["equal"]  # jobs alerts carry component="jobs", the API's none


def test_a_page_inhibits_the_ticket_of_the_same_slo_only() -> None:
    config = yaml.safe_load(alertmanager_config("http://127.0.0.1:9/webhook"))
    slo_rule = next(rule for rule in config["inhibit_rules"] if "slo" in rule["equal"])
    assert 'severity="page"' in slo_rule["source_matchers"]
    assert slo_rule["target_matchers"] == ['severity="ticket"']
    assert set(slo_rule["equal"]) == {"service", "slo"}
