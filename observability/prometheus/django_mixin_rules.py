"""Fit the community django-mixin's alerts to this service: bring your own mixin.

The mixin (https://github.com/adinhodovic/django-mixin) has no licence, so this repository
ships nothing of it (observability/django-mixin/README.md). A user who has the mixin passes its
rendered alerts (its ``prometheus_alerts.yaml``, rendered with the defaults of its
``config.libsonnet``) and gets them with this service's settings
(``observability/django-mixin-overrides.yaml``, each with its reason): each setting replaces
the default the upstream rendering carries, where that default is (``UPSTREAM_DEFAULTS``). A
default that is not found, or found where it should not be, stops the generator naming the
setting, so another upstream version is not fitted with stale assumptions. Then the project's
conventions are added: the ``service`` label, a ``runbook_url`` and a ``dashboard_url`` of this
project.

    python -m observability.prometheus.django_mixin_rules --upstream prometheus_alerts.yaml \
        --output django-mixin.yml [--check] [--unit-tests-output django_mixin_test.yml]

Writes only ``--output`` (outside this repository: the rendered file is derived from the
mixin's text); ``--check`` writes nothing and fails when ``--output`` differs from what it would
write. ``--unit-tests-output`` also writes a copy of this project's promtool tests
(``observability/django-mixin/promtool_test.yml``) that reads ``--output``.
``make check-django-mixin DJANGO_MIXIN=...`` runs all of it; tests/observability/
test_django_mixin.py tests the mechanics on a synthetic alerts document.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from observability.prometheus.slo_rules import dump_rules
from observability.slo import Links, load_slo

OBSERVABILITY = Path(__file__).resolve().parents[1]
OVERRIDES_FILE = OBSERVABILITY / "django-mixin-overrides.yaml"
UNIT_TESTS_FILE = OBSERVABILITY / "django-mixin" / "promtool_test.yml"

# config.libsonnet's defaults at the commit checked against (observability/django-mixin/
# README.md): what the upstream rendering carries.
UPSTREAM_SELECTOR = 'job="django"'
UPSTREAM_IGNORED_VIEWS = "<unnamed view>|health_check:health_check_home|prometheus-django-metrics"
# Each alert's config key, name and defaults (None: the alert has no such setting).
ALERT_NAMES = {
    "migrationsUnapplied": "DjangoMigrationsUnapplied",
    "databaseException": "DjangoDatabaseException",
    "http4xxErrorRate": "DjangoHighHttp4xxErrorRate",
    "http5xxErrorRate": "DjangoHighHttp5xxErrorRate",
}
UPSTREAM_DEFAULTS: dict[str, dict[str, str | None]] = {
    "migrationsUnapplied": {"severity": "warning", "interval": None, "threshold": "0"},
    "databaseException": {"severity": "info", "interval": "10m", "threshold": "0"},
    "http4xxErrorRate": {"severity": "warning", "interval": "5m", "threshold": "5"},
    "http5xxErrorRate": {"severity": "warning", "interval": "5m", "threshold": "5"},
}
UPSTREAM_DURATIONS = {
    "migrationsUnapplied": "15m",
    "http4xxErrorRate": "1m",
    "http5xxErrorRate": "1m",
}
ALERT_SETTINGS = {"enabled", "severity", "interval", "threshold", "duration", "ignoredViews"}


class MixinError(Exception):
    """The upstream rules or the overrides do not fit together; the message says where."""


@dataclass(frozen=True)
class Setting:
    """One value of the overrides file and the reason it is set."""

    value: str
    reason: str


def _setting(data: Any, where: str) -> Setting:
    if not isinstance(data, dict) or not data.get("value") or not data.get("reason"):
        raise MixinError(f"{where}: want a mapping with a value and a reason")
    return Setting(str(data["value"]), " ".join(str(data["reason"]).split()))


def _replace(text: str, old: str, new: str, *, where: str, count: int | None = None) -> str:
    """``text`` with ``old`` replaced by ``new``; ``old`` must occur (``count`` times if given)."""
    found = text.count(old)
    if found == 0 or (count is not None and found != count):
        expected = "at least once" if count is None else f"{count} time(s)"
        raise MixinError(f"{where}: upstream default {old!r} found {found} time(s), {expected}")
    return text.replace(old, new)


def _replace_threshold(expr: str, old: str, new: str, *, where: str) -> str:
    """The comparison that ends the expression (``> 5``), with ``new`` for ``old``."""
    pattern = re.compile(rf"(>\s*){re.escape(old)}(\s*)$")
    if not pattern.search(expr):
        raise MixinError(f"{where}: the expression does not end with '> {old}'")
    return pattern.sub(lambda match: f"{match[1]}{new}{match[2]}", expr)


def _alert_settings(overrides: dict[str, Any], key: str) -> dict[str, Any]:
    settings = (overrides.get("alerts") or {}).get(key) or {}
    unknown = set(settings) - ALERT_SETTINGS - {"reason"}
    if unknown:
        raise MixinError(f"alerts.{key}: unknown settings {sorted(unknown)}")
    if settings and not settings.get("reason"):
        raise MixinError(f"alerts.{key}: say why (a reason)")
    return dict(settings)


def fitted_alert(
    rule: dict[str, Any], key: str, overrides: dict[str, Any], links: Links
) -> dict[str, Any] | None:
    """The upstream ``rule`` (config key ``key``) with this service's settings, or ``None``
    when the overrides disable it."""
    settings = _alert_settings(overrides, key)
    if not settings.get("enabled", True):
        return None
    name = ALERT_NAMES[key]
    defaults = UPSTREAM_DEFAULTS[key]
    fitted = copy.deepcopy(rule)
    expr = str(fitted["expr"])
    selector = _setting(overrides.get("djangoSelector"), "djangoSelector").value
    expr = _replace(expr, UPSTREAM_SELECTOR, selector, where=f"{name} djangoSelector")
    description = str(fitted["annotations"]["description"])

    if 'view!~"' in expr:
        views = _setting(overrides.get("djangoIgnoredViews"), "djangoIgnoredViews").value
        if "ignoredViews" in settings:
            extra = _setting(settings["ignoredViews"], f"alerts.{key}.ignoredViews").value
            views = f"{views}|{extra}"
        old = f'view!~"{UPSTREAM_IGNORED_VIEWS}"'
        expr = _replace(expr, old, f'view!~"{views}"', where=f"{name} djangoIgnoredViews")
    elif "ignoredViews" in settings:
        raise MixinError(f"alerts.{key}.ignoredViews: {name} reads no view label")

    interval = defaults["interval"]
    if "interval" in settings:
        if interval is None:
            raise MixinError(f"alerts.{key}.interval: {name} has no interval")
        new_interval = str(settings["interval"])
        expr = _replace(expr, f"[{interval}]", f"[{new_interval}]", where=f"{name} interval")
        description = description.replace(f"the past {interval}.", f"the past {new_interval}.")

    threshold = defaults["threshold"]
    if "threshold" in settings and threshold is not None:
        new_threshold = str(settings["threshold"])
        expr = _replace_threshold(expr, threshold, new_threshold, where=f"{name} threshold")
        description = description.replace(f"More than {threshold}%", f"More than {new_threshold}%")

    if "duration" in settings:
        if fitted.get("for") != UPSTREAM_DURATIONS.get(key):
            raise MixinError(f"{name}: upstream 'for' is {fitted.get('for')!r}, not the default")
        fitted["for"] = str(settings["duration"])

    if fitted["labels"].get("severity") != defaults["severity"]:
        raise MixinError(f"{name}: upstream severity is {fitted['labels'].get('severity')!r}")
    fitted["labels"] = {
        **fitted["labels"],
        "severity": str(settings.get("severity", defaults["severity"])),
        **{str(k): str(v) for k, v in (overrides.get("labels") or {}).items()},
    }
    dashboard = (overrides.get("dashboards") or {}).get(name)
    if not dashboard:
        raise MixinError(f"dashboards.{name}: name one of this project's dashboard uids")
    fitted["expr"] = expr
    fitted["annotations"] = {
        "summary": fitted["annotations"]["summary"],
        "description": description,
        "runbook_url": links.runbook(name),
        "dashboard_url": links.dashboard(str(dashboard)),
    }
    return fitted


def fitted_rules(upstream: dict[str, Any], overrides: dict[str, Any], links: Links) -> Any:
    """The rule file's document: upstream's groups with every alert fitted or dropped."""
    keys = {name: key for key, name in ALERT_NAMES.items()}
    unknown = set(overrides.get("alerts") or {}) - set(ALERT_NAMES)
    if unknown:
        raise MixinError(f"alerts: the mixin has no alerts {sorted(unknown)}")
    groups = []
    for group in upstream["groups"]:
        rules = []
        for rule in group["rules"]:
            name = rule.get("alert")
            if name not in keys:
                raise MixinError(f"upstream alert {name!r} is new: add it to ALERT_NAMES")
            fitted = fitted_alert(rule, keys[name], overrides, links)
            if fitted is not None:
                rules.append(fitted)
        if rules:
            groups.append({"name": group["name"], "rules": rules})
    return {"groups": groups}


HEADER = """\
# GENERATED by observability/prometheus/django_mixin_rules.py: do not edit, and do not commit
# to the todo service's repository (the community django-mixin has no licence; this file is
# derived from its text). The mixin's alerts ({upstream}) with the todo service's settings
# and their reasons (observability/django-mixin-overrides.yaml). Load it beside the service's
# own rules. Alert names stay the mixin's (Django*), so its users recognise them.
"""


def render(upstream_text: str, overrides_text: str, links: Links, *, upstream: str = "") -> str:
    """The rule file's text (``upstream``: where the mixin's file came from, for the header)."""
    document = fitted_rules(yaml.safe_load(upstream_text), yaml.safe_load(overrides_text), links)
    header = HEADER.format(upstream=upstream or "its rendered prometheus_alerts.yaml")
    return header + dump_rules(document)


_LABEL = re.compile(r"\{\{ *\$labels\.(\w+) *\}\}")


def _expand(template: str, labels: dict[str, str], *, where: str) -> str:
    """An annotation template with its ``{{ $labels.x }}`` filled in; anything else refused."""
    text = _LABEL.sub(lambda match: str(labels.get(match[1], "")), template)
    if "{{" in text:
        raise MixinError(f"{where}: a template beyond $labels cannot be expected: {template!r}")
    return " ".join(text.split())


def unit_tests(tests_text: str, rules_path: Path, rules_text: str) -> str:
    """This project's promtool tests (``tests_text``) reading the rendered ``rules_path``, each
    expected alert's ``summary`` and ``description`` filled in from the rendered rule: those
    are the mixin's text, which this repository does not carry (the settings' effect on the
    description is tested in tests/observability/test_django_mixin.py)."""
    rules = {
        str(rule["alert"]): rule
        for group in yaml.safe_load(rules_text)["groups"]
        for rule in group["rules"]
    }
    document = yaml.safe_load(tests_text)
    document["rule_files"] = [str(rules_path)]
    for case in document["tests"]:
        for check in case.get("alert_rule_test") or []:
            name = str(check["alertname"])
            if name not in rules:
                raise MixinError(f"{UNIT_TESTS_FILE.name}: {name} is not in the rendered rules")
            for alert in check.get("exp_alerts") or []:
                labels = {**alert.get("exp_labels", {}), "alertname": name}
                annotations = rules[name]["annotations"]
                alert["exp_annotations"] = {
                    "summary": _expand(annotations["summary"], labels, where=name),
                    "description": _expand(annotations["description"], labels, where=name),
                    **alert.get("exp_annotations", {}),
                }
    return yaml.safe_dump(document, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Write the fitted rules to ``--output``, or with ``--check`` report whether it is current."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--upstream",
        type=Path,
        required=True,
        help="the mixin's rendered prometheus_alerts.yaml (its config.libsonnet defaults)",
    )
    parser.add_argument("--output", type=Path, required=True, help="the fitted rule file to write")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if --output is stale"
    )
    parser.add_argument(
        "--unit-tests-output",
        type=Path,
        help=f"also write the promtool tests ({UNIT_TESTS_FILE.name}) reading --output",
    )
    parser.add_argument("--overrides", type=Path, default=OVERRIDES_FILE, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    try:
        upstream_text = arguments.upstream.read_text(encoding="utf-8")
    except OSError as error:
        sys.stderr.write(f"--upstream: {error}\n")
        return 2
    try:
        text = render(
            upstream_text,
            arguments.overrides.read_text(encoding="utf-8"),
            load_slo().links,
            upstream=str(arguments.upstream),
        )
        tests = (
            unit_tests(
                UNIT_TESTS_FILE.read_text(encoding="utf-8"), arguments.output.resolve(), text
            )
            if arguments.unit_tests_output
            else None
        )
    except MixinError as error:
        sys.stderr.write(f"{arguments.overrides.name}: {error}\n")
        return 1
    if arguments.check:
        output = arguments.output
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            sys.stderr.write(f"{output} is stale: run without --check\n")
            return 1
        return 0
    arguments.output.write_text(text, encoding="utf-8")
    if tests is not None:
        arguments.unit_tests_output.write_text(tests, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
