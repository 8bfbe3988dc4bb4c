"""Runbooks: one per alert, every section present, and only real dashboard panels named.

Reads the alert rules (`observability/prometheus/rules/*.yml`, plus the community django-mixin's
alerts as `observability/django-mixin-overrides.yaml` fits them, for users who bring the mixin:
their names, severities and links from the generator run on tests/support/django_mixin.py's
synthetic document), the generated dashboards
(`observability/grafana/dashboards/*.json`) and the runbooks (`docs/runbooks/`). Runbooks name
panels as `dashboard "<title>", panel "<panel>"` (or `panels "<a>", "<b>" and "<c>"`), so a
renamed panel or dashboard breaks this test instead of a 3 a.m. diagnosis.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.backing_services import run_tool
from tests.support.django_mixin import fitted_alerts

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "observability" / "prometheus" / "rules"
DASHBOARDS_DIR = ROOT / "observability" / "grafana" / "dashboards"
RUNBOOKS_DIR = ROOT / "docs" / "runbooks"
INDEX = RUNBOOKS_DIR / "README.md"

SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation / related alerts")
SEVERITIES = {"page", "ticket"}

_QUOTED = r'"[^"]+"'
DASHBOARD_REFERENCE = re.compile(
    rf'\b[Dd]ashboard "(?P<dashboard>[^"]+)"'
    rf"(?:, panels? (?P<panels>{_QUOTED}(?:(?:, | and |, and ){_QUOTED})*))?"
)
PANEL_MENTION = re.compile(r'\b[Pp]anels? "')
PROMQL_BLOCK = re.compile(r"^ *```promql\n(?P<query>.*?)^ *```", re.MULTILINE | re.DOTALL)
SERVICE_METRIC = re.compile(r"\b(?P<metric>(?:django|todos|process)_\w+)(?P<selector>\{[^}]*\})?")
# The API's scrape job, or the Celery worker's (exports finished, celery-exporter's metrics).
SERVICE_JOB = re.compile(r'job="(?:todo-api|todo-worker)"')
INDEX_ROW = re.compile(r"^\| \[(?P<alert>\w+)\]\((?P<link>[^)]+)\) \| (?P<severity>\w+) \|", re.M)
MARKDOWN_LINK = re.compile(r"\]\((?P<target>[^)#\s]+\.md)\)")


# ---------------------------------------------------------------- loading


def _shown(path: Path) -> str:
    """The path as the repository names it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _alert_rules() -> dict[str, dict[str, Any]]:
    """Every alerting rule by name; fails (not crashes) while the rule files are missing."""
    files = sorted(RULES_DIR.glob("*.yml"))
    if not files:
        pytest.fail(
            f"no rule files in {_shown(RULES_DIR)}/*.yml: "
            "the runbooks cannot be checked against the alerts"
        )
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            pytest.fail(f"{_shown(path)} is not valid YAML: {error}")
        for group in document.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    found[str(rule["alert"])] = rule
    if not found:
        pytest.fail(f"no alerting rule in {_shown(RULES_DIR)}/*.yml")
    found.update(fitted_alerts())  # the django-mixin's, as a user who brings it gets them
    return found


def _panel_titles(panels: list[dict[str, Any]]) -> Iterator[str]:
    """Titles of panels and of the panels nested in (collapsed) rows, depth first."""
    for panel in panels:
        if panel.get("title"):
            yield str(panel["title"])
        yield from _panel_titles(panel.get("panels") or [])


def _dashboards() -> dict[str, set[str]]:
    """Panel titles per dashboard, keyed by both the dashboard's title and its uid."""
    files = sorted(DASHBOARDS_DIR.glob("*.json"))
    if not files:
        pytest.fail(
            f"no generated dashboards in {_shown(DASHBOARDS_DIR)}/*.json: "
            "the panels the runbooks name cannot be checked"
        )
    found: dict[str, set[str]] = {}
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            pytest.fail(f"{_shown(path)} is not valid JSON: {error}")
        dashboard = document.get("dashboard", document)  # API envelope or bare model
        titles = set(_panel_titles(dashboard.get("panels") or []))
        for key in (dashboard.get("title"), dashboard.get("uid")):
            if key:
                found[str(key)] = titles
    return found


def _runbooks() -> dict[str, str]:
    """Runbook text by alert name (the file stem); the index is not a runbook."""
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(RUNBOOKS_DIR.glob("*.md"))
        if path != INDEX
    }


def _headings(text: str) -> list[str]:
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


def _promql_queries() -> list[tuple[str, str]]:
    """(runbook, query) for every ```promql block of every runbook."""
    return [
        (name, match["query"].strip())
        for name, text in _runbooks().items()
        for match in PROMQL_BLOCK.finditer(text)
    ]


# ---------------------------------------------------------------- alerts and runbooks


def test_every_alert_has_a_runbook_with_every_section() -> None:
    runbooks = _runbooks()
    problems = []
    for alert in sorted(_alert_rules()):
        if alert not in runbooks:
            problems.append(f"{alert}: no docs/runbooks/{alert}.md")
            continue
        headings = _headings(runbooks[alert])
        in_order = [heading for heading in headings if heading in SECTIONS]
        if in_order != list(SECTIONS):
            problems.append(
                f"{alert}.md: sections {in_order}, expected exactly {list(SECTIONS)} in order"
            )
    assert not problems, "\n".join(problems)


def test_every_alert_links_its_runbook() -> None:
    wrong = {
        alert: rule.get("annotations", {}).get("runbook_url")
        for alert, rule in _alert_rules().items()
        if not str(rule.get("annotations", {}).get("runbook_url", "")).endswith(
            f"docs/runbooks/{alert}.md"
        )
    }
    assert not wrong, f"runbook_url must end with docs/runbooks/<alert>.md: {wrong}"


def test_every_runbook_belongs_to_an_alert() -> None:
    orphans = sorted(set(_runbooks()) - set(_alert_rules()))
    assert not orphans, f"runbooks without an alert of that name: {orphans}"


def test_the_index_lists_every_alert_with_its_severity() -> None:
    listed = {row["alert"]: row for row in INDEX_ROW.finditer(INDEX.read_text(encoding="utf-8"))}
    expected = {
        alert: str(rule.get("labels", {}).get("severity")) for alert, rule in _alert_rules().items()
    }
    assert set(expected.values()) <= SEVERITIES, f"unexpected severities: {expected}"
    assert sorted(listed) == sorted(expected), "docs/runbooks/README.md lists other alerts"
    wrong = {
        alert: (row["severity"], row["link"])
        for alert, row in listed.items()
        if (row["severity"], row["link"]) != (expected[alert], f"{alert}.md")
    }
    assert not wrong, f"index rows with a wrong severity or link: {wrong}; expected {expected}"


# ---------------------------------------------------------------- what the runbooks name


def test_runbooks_name_only_existing_dashboard_panels() -> None:
    dashboards = _dashboards()
    problems = []
    for name, text in {**_runbooks(), INDEX.stem: INDEX.read_text(encoding="utf-8")}.items():
        flat = " ".join(text.split())  # references may wrap across lines
        covered: list[tuple[int, int]] = []
        for match in DASHBOARD_REFERENCE.finditer(flat):
            covered.append(match.span())
            dashboard = match["dashboard"]
            if dashboard not in dashboards:
                problems.append(f"{name}.md: no dashboard titled {dashboard!r}")
                continue
            for panel in re.findall(r'"([^"]+)"', match["panels"] or ""):
                if panel not in dashboards[dashboard]:
                    problems.append(f"{name}.md: dashboard {dashboard!r} has no panel {panel!r}")
        for mention in PANEL_MENTION.finditer(flat):
            if not any(start <= mention.start() < end for start, end in covered):
                excerpt = flat[mention.start() : mention.start() + 60]
                problems.append(f"{name}.md: panel named without its dashboard: {excerpt!r}")
    assert not problems, "\n".join(problems)


def test_runbook_links_point_at_existing_runbooks() -> None:
    broken = sorted(
        f"{path.name} -> {match['target']}"
        for path in RUNBOOKS_DIR.glob("*.md")
        for match in MARKDOWN_LINK.finditer(path.read_text(encoding="utf-8"))
        if not (RUNBOOKS_DIR / match["target"]).is_file()
    )
    assert not broken, f"links to missing files: {broken}"


def test_every_runbook_gives_promql_that_selects_the_service() -> None:
    queries = _promql_queries()
    without = sorted(set(_runbooks()) - {name for name, _ in queries})
    assert not without, f"runbooks without a ```promql query: {without}"
    unscoped = [
        f"{name}.md: {match['metric']}{match['selector'] or ''}"
        for name, query in queries
        for match in SERVICE_METRIC.finditer(query)
        if not SERVICE_JOB.search(match["selector"] or "")
    ]
    assert not unscoped, (
        'service metrics must select job="todo-api" (the worker\'s: "todo-worker"):\n'
        + "\n".join(unscoped)
    )


def test_runbook_promql_queries_parse(tmp_path: Path) -> None:
    """promtool checks each query as the expression of a recording rule, one group per runbook."""
    groups: dict[str, list[dict[str, str]]] = {}
    for name, query in _promql_queries():
        rules = groups.setdefault(name, [])
        rules.append({"record": f"runbook_query_{len(rules) + 1}", "expr": query})
    rule_file = tmp_path / "runbook_queries.yml"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": n, "rules": r} for n, r in groups.items()]}),
        encoding="utf-8",
    )
    run_tool(
        "prometheus",
        "promtool",
        "check",
        "rules",
        str(rule_file),
        context="a ```promql query in docs/runbooks does not parse (group = runbook, "
        "rule N = its Nth query): ",
    )
