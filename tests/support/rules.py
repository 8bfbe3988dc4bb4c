"""Reading the project's Prometheus rule files and promtool tests (shared by the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "observability" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_CONFIG = ROOT / "observability" / "alertmanager" / "alertmanager.yml"
WEBHOOK_PLACEHOLDER = "${ALERTMANAGER_WEBHOOK_URL}"


@dataclass(frozen=True)
class Rule:
    """One recording or alerting rule and the file that holds it."""

    file: str
    group: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        """The alert name or the recorded metric name."""
        return str(self.body.get("alert") or self.body["record"])

    @property
    def is_alert(self) -> bool:
        """True for an alerting rule."""
        return "alert" in self.body


def rule_files() -> list[Path]:
    """Every rule file Prometheus loads, in name order."""
    return sorted(RULES_DIR.glob("*.yml"))


def all_rules() -> list[Rule]:
    """Every rule of every rule file."""
    return [
        Rule(file=path.name, group=group["name"], body=rule)
        for path in rule_files()
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def alerts() -> list[Rule]:
    """Every alerting rule."""
    return [rule for rule in all_rules() if rule.is_alert]


def recording_rules() -> list[Rule]:
    """Every recording rule."""
    return [rule for rule in all_rules() if not rule.is_alert]


def rule_test_files() -> list[Path]:
    """The promtool unit-test files."""
    return sorted(RULE_TESTS_DIR.glob("*_test.yml"))


def alertmanager_config(webhook_url: str) -> str:
    """The Alertmanager config with its webhook placeholder filled in."""
    text = ALERTMANAGER_CONFIG.read_text(encoding="utf-8")
    assert WEBHOOK_PLACEHOLDER in text
    return text.replace(WEBHOOK_PLACEHOLDER, webhook_url)
