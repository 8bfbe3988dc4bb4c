"""Fitting the community django-mixin's alerts to this service (bring your own mixin).

The mixin has no licence, so nothing of it is in this repository: these tests run the
generator (observability/prometheus/django_mixin_rules.py) on a synthetic document of
upstream's shape (tests/support/django_mixin.py) with the committed overrides, and with
overrides changed one setting at a time. ``make check-django-mixin DJANGO_MIXIN=...`` runs the
same generator, promtool and the live test on a real copy of the mixin.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.prometheus import django_mixin_rules as mixin
from observability.slo import load_slo
from tests.support.backing_services import run_tool
from tests.support.django_mixin import (
    DEFAULT_VIEWS,
    SYNTHETIC_ALERTS,
    fitted_alerts,
    overrides_text,
    synthetic_text,
)
from tests.support.rules import ROOT

DASHBOARDS_DIR = ROOT / "observability" / "grafana" / "dashboards"
DESIGNED_4XX_VIEWS = ("todo-detail", "register", "token_obtain_pair", "token_refresh")


def overrides(**changes: Any) -> dict[str, Any]:
    """The committed overrides as a document, top-level keys replaced by ``changes``."""
    document: dict[str, Any] = yaml.safe_load(overrides_text())
    document.update(changes)
    return document


def with_alert(key: str, **settings: Any) -> str:
    """The committed overrides with ``alerts.<key>`` replaced by ``settings`` (and a reason)."""
    document = overrides()
    document["alerts"][key] = {**settings, "reason": "a test"}
    return yaml.safe_dump(document)


def upstream(change: Any) -> str:
    """The synthetic upstream text after ``change(document)`` edited a copy of it."""
    document = copy.deepcopy(SYNTHETIC_ALERTS)
    change(document)
    return synthetic_text(document)


def upstream_rule(document: dict[str, Any], name: str) -> dict[str, Any]:
    rule: dict[str, Any] = next(
        rule for group in document["groups"] for rule in group["rules"] if rule["alert"] == name
    )
    return rule


# ------------------------------------------------------------------ the committed overrides


def test_every_override_says_why() -> None:
    document = overrides()
    for key in ("djangoSelector", "djangoIgnoredViews"):
        assert document[key]["reason"].strip(), key
    for key, settings in document["alerts"].items():
        assert settings["reason"].strip(), key
        if "ignoredViews" in settings:
            assert settings["ignoredViews"]["reason"].strip(), key


def test_the_committed_overrides_fit_the_generator() -> None:
    alerts = fitted_alerts()
    links = load_slo().links

    assert set(alerts) == {
        "DjangoDatabaseException",
        "DjangoHighHttp4xxErrorRate",
        "DjangoHighHttp5xxErrorRate",
    }  # DjangoMigrationsUnapplied: off, TodoApiMigrationsUnapplied covers it
    for name, rule in alerts.items():
        assert rule["labels"] == {"severity": "ticket", "service": load_slo().service}, name
        assert rule["annotations"]["runbook_url"] == links.runbook(name)
        assert (ROOT / "docs" / "runbooks" / f"{name}.md").is_file(), name
        assert 'job="django"' not in rule["expr"], name
        assert 'job="todo-api"' in rule["expr"], name


def test_every_fitted_alert_links_a_dashboard_that_exists() -> None:
    uids = {json.loads(path.read_text())["uid"] for path in DASHBOARDS_DIR.glob("*.json")}
    prefix = load_slo().links.dashboard("")
    for name, rule in fitted_alerts().items():
        url = rule["annotations"]["dashboard_url"]
        assert url.startswith(prefix), url
        assert url.removeprefix(prefix) in uids, f"{name} links {url}"


# ------------------------------------------------------------------ each setting


def test_the_selector_replaces_every_default_selector() -> None:
    document = overrides(djangoSelector={"value": 'job="shop"', "reason": "a test"})
    alerts = fitted_alerts(overrides=yaml.safe_dump(document))

    four = alerts["DjangoHighHttp4xxErrorRate"]["expr"]
    assert four.count('job="shop"') == 2  # numerator and denominator
    assert 'job="django"' not in yaml.safe_dump(alerts)


def test_the_ignored_views_replace_the_default_regex() -> None:
    document = overrides(djangoIgnoredViews={"value": "metrics|admin:index", "reason": "a test"})
    alerts = fitted_alerts(overrides=yaml.safe_dump(document))

    five = alerts["DjangoHighHttp5xxErrorRate"]["expr"]
    assert five.count('view!~"metrics|admin:index"') == 2
    assert DEFAULT_VIEWS not in five


def test_designed_4xx_views_are_ignored_by_the_4xx_alert_only() -> None:
    """Ignoring todo-detail for 5xx as well would hide its server errors."""
    alerts = fitted_alerts()
    four = alerts["DjangoHighHttp4xxErrorRate"]["expr"]
    five = alerts["DjangoHighHttp5xxErrorRate"]["expr"]

    extra = "|".join(DESIGNED_4XX_VIEWS)
    assert four.count(f'view!~"{DEFAULT_VIEWS}|{extra}"') == 2
    assert five.count(f'view!~"{DEFAULT_VIEWS}"') == 2
    assert not any(view in five for view in DESIGNED_4XX_VIEWS)


def test_the_interval_replaces_the_window_and_the_description_says_so() -> None:
    alerts = fitted_alerts()
    four = alerts["DjangoHighHttp4xxErrorRate"]
    five = alerts["DjangoHighHttp5xxErrorRate"]

    assert four["expr"].count("[15m]") == 2
    assert "[5m]" not in four["expr"]
    assert four["annotations"]["description"].endswith("over the past 15m.")
    assert five["expr"].count("[10m]") == 2
    assert five["annotations"]["description"].endswith("over the past 10m.")
    # not overridden: the default stays
    assert "[10m]" in alerts["DjangoDatabaseException"]["expr"]


def test_the_threshold_replaces_the_final_comparison_and_the_description() -> None:
    alerts = fitted_alerts()
    four = alerts["DjangoHighHttp4xxErrorRate"]

    assert four["expr"].rstrip().endswith("> 25")
    assert four["expr"].startswith("100 * ")  # the 100 is not a threshold
    assert four["annotations"]["description"].startswith("More than 25% ")
    assert alerts["DjangoHighHttp5xxErrorRate"]["expr"].rstrip().endswith("> 5")


def test_the_duration_replaces_for() -> None:
    alerts = fitted_alerts()

    assert alerts["DjangoHighHttp4xxErrorRate"]["for"] == "15m"
    assert alerts["DjangoHighHttp5xxErrorRate"]["for"] == "10m"
    assert "for" not in alerts["DjangoDatabaseException"]


def test_the_severity_is_replaced_only_where_set() -> None:
    alerts = fitted_alerts(overrides=with_alert("http5xxErrorRate"))

    assert alerts["DjangoHighHttp5xxErrorRate"]["labels"]["severity"] == "warning"
    assert alerts["DjangoHighHttp4xxErrorRate"]["labels"]["severity"] == "ticket"


def test_an_alert_left_enabled_ships_with_its_upstream_settings() -> None:
    document = yaml.safe_load(with_alert("migrationsUnapplied", severity="ticket"))
    document["dashboards"]["DjangoMigrationsUnapplied"] = "todo-api-dependencies"
    alerts = fitted_alerts(overrides=yaml.safe_dump(document))
    migrations = alerts["DjangoMigrationsUnapplied"]

    assert migrations["for"] == "15m"
    assert migrations["expr"].startswith('max by (job) (django_migrations_unapplied_total{job="')
    assert migrations["labels"]["severity"] == "ticket"


def test_disabled_alerts_are_dropped_and_an_empty_group_with_them() -> None:
    document = overrides()
    for key in mixin.ALERT_NAMES:
        document["alerts"][key] = {"enabled": False, "reason": "a test"}
    text = mixin.render(synthetic_text(), yaml.safe_dump(document), load_slo().links)

    assert yaml.safe_load(text) == {"groups": []}


def test_the_projects_labels_and_links_are_added() -> None:
    document = overrides(
        labels={"service": "todo-api", "team": "platform"},
        dashboards={
            "DjangoDatabaseException": "todo-api-runtime",
            "DjangoHighHttp4xxErrorRate": "todo-api-slo",
            "DjangoHighHttp5xxErrorRate": "todo-api-slo",
        },
    )
    alerts = fitted_alerts(overrides=yaml.safe_dump(document))
    database = alerts["DjangoDatabaseException"]

    assert database["labels"] == {"severity": "ticket", "service": "todo-api", "team": "platform"}
    assert database["annotations"] == {
        "summary": "Synthetic: a database error.",
        "description": "{{ $labels.job }} saw a {{ $labels.type }}.",
        "runbook_url": load_slo().links.runbook("DjangoDatabaseException"),
        "dashboard_url": load_slo().links.dashboard("todo-api-runtime"),
    }


# ------------------------------------------------------------------ what stops the generator


def _moved_selector(document: dict[str, Any]) -> None:
    rule = upstream_rule(document, "DjangoDatabaseException")
    rule["expr"] = rule["expr"].replace('job="django"', 'job="web"')


def _moved_views(document: dict[str, Any]) -> None:
    rule = upstream_rule(document, "DjangoHighHttp5xxErrorRate")
    rule["expr"] = rule["expr"].replace("<unnamed view>|", "")


def _moved_window(document: dict[str, Any]) -> None:
    rule = upstream_rule(document, "DjangoHighHttp4xxErrorRate")
    rule["expr"] = rule["expr"].replace("[5m]", "[2m]")


def _moved_threshold(document: dict[str, Any]) -> None:
    rule = upstream_rule(document, "DjangoHighHttp4xxErrorRate")
    rule["expr"] = rule["expr"].replace("> 5", "> 10")


def _moved_duration(document: dict[str, Any]) -> None:
    upstream_rule(document, "DjangoHighHttp5xxErrorRate")["for"] = "5m"


def _moved_severity(document: dict[str, Any]) -> None:
    upstream_rule(document, "DjangoDatabaseException")["labels"]["severity"] = "critical"


def _new_alert(document: dict[str, Any]) -> None:
    document["groups"][0]["rules"].append({"alert": "DjangoSomethingNew", "expr": "vector(1)"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_moved_selector, "DjangoDatabaseException djangoSelector: upstream default 'job="),
        (_moved_views, "DjangoHighHttp5xxErrorRate djangoIgnoredViews: upstream default"),
        (_moved_window, r"DjangoHighHttp4xxErrorRate interval: upstream default '\[5m\]' found 0"),
        (_moved_threshold, "DjangoHighHttp4xxErrorRate threshold: .* does not end with '> 5'"),
        (_moved_duration, "DjangoHighHttp5xxErrorRate: upstream 'for' is '5m', not the default"),
        (_moved_severity, "DjangoDatabaseException: upstream severity is 'critical'"),
        (_new_alert, "upstream alert 'DjangoSomethingNew' is new: add it to ALERT_NAMES"),
    ],
    ids=["selector", "ignored-views", "interval", "threshold", "duration", "severity", "new"],
)
def test_an_upstream_default_that_moved_stops_the_generator_naming_the_setting(
    change: Any, message: str
) -> None:
    """Another upstream version rendered with other defaults is not fitted silently."""
    with pytest.raises(mixin.MixinError, match=message):
        fitted_alerts(upstream=upstream(change))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            with_alert("migrationsUnapplied", interval="5m"),
            "alerts.migrationsUnapplied.interval: DjangoMigrationsUnapplied has no interval",
        ),
        (
            with_alert("databaseException", ignoredViews={"value": "register", "reason": "a test"}),
            "alerts.databaseException.ignoredViews: DjangoDatabaseException reads no view",
        ),
        (
            with_alert("http4xxErrorRate", ignoredViews={"value": "register"}),
            r"alerts.http4xxErrorRate.ignoredViews: want a mapping with a value and a reason",
        ),
        (with_alert("http5xxErrorRate", treshold="10"), r"unknown settings \['treshold'\]"),
        (
            yaml.safe_dump(overrides(alerts={"cacheMissRate": {"reason": "a test"}})),
            r"the mixin has no alerts \['cacheMissRate'\]",
        ),
        (
            yaml.safe_dump(overrides(djangoSelector={"value": 'job="todo-api"'})),
            "djangoSelector: want a mapping with a value and a reason",
        ),
        (
            yaml.safe_dump(overrides(dashboards={})),
            "dashboards.DjangoDatabaseException: name one of this project's dashboard uids",
        ),
    ],
    ids=[
        "interval-without-window",
        "views-without-view",
        "views-without-reason",
        "unknown-setting",
        "unknown-alert",
        "selector-without-reason",
        "no-dashboard",
    ],
)
def test_overrides_that_cannot_apply_are_refused_naming_the_setting(
    text: str, message: str
) -> None:
    with pytest.raises(mixin.MixinError, match=message):
        fitted_alerts(overrides=text)


def test_an_override_without_a_reason_is_refused() -> None:
    document = overrides()
    del document["alerts"]["http5xxErrorRate"]["reason"]

    with pytest.raises(mixin.MixinError, match=r"alerts\.http5xxErrorRate: say why"):
        fitted_alerts(overrides=yaml.safe_dump(document))


# ------------------------------------------------------------------ the command


def test_the_command_needs_the_upstream_file_and_the_output_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing is written into the repository by default: there is no default."""
    with pytest.raises(SystemExit) as exited:
        mixin.main([])

    assert exited.value.code == 2
    assert "--upstream" in capsys.readouterr().err


def test_the_command_writes_the_output_and_check_compares_with_it(tmp_path: Path) -> None:
    source = tmp_path / "prometheus_alerts.yaml"
    source.write_text(synthetic_text(), encoding="utf-8")
    output = tmp_path / "django-mixin.yml"
    arguments = ["--upstream", str(source), "--output", str(output)]

    assert mixin.main([*arguments, "--check"]) == 1  # missing
    assert mixin.main(arguments) == 0
    assert mixin.main([*arguments, "--check"]) == 0
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# GENERATED by observability/prometheus/django_mixin_rules.py")
    assert str(source) in text.split("groups:")[0]  # the header names the source
    assert set(yaml.safe_load(text)["groups"][0]) == {"name", "rules"}
    output.write_text(text.replace("> 25", "> 30"), encoding="utf-8")
    assert mixin.main([*arguments, "--check"]) == 1  # stale
    assert sorted(path.name for path in tmp_path.iterdir()) == [output.name, source.name]


def test_the_command_reports_a_missing_upstream_file_and_a_misfit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "django-mixin.yml"
    missing = ["--upstream", str(tmp_path / "absent.yaml"), "--output", str(output)]
    assert mixin.main(missing) == 2

    source = tmp_path / "prometheus_alerts.yaml"
    source.write_text(upstream(_moved_window), encoding="utf-8")
    assert mixin.main(["--upstream", str(source), "--output", str(output)]) == 1
    assert "DjangoHighHttp4xxErrorRate interval" in capsys.readouterr().err
    assert not output.exists()


# ------------------------------------------------------------------ the promtool tests


def test_the_committed_promtool_tests_carry_no_upstream_text() -> None:
    """Summaries and descriptions are the mixin's: filled in only in the rendered copy."""
    document = yaml.safe_load(mixin.UNIT_TESTS_FILE.read_text(encoding="utf-8"))
    expected = [
        alert
        for case in document["tests"]
        for check in case.get("alert_rule_test") or []
        for alert in check["exp_alerts"]
    ]

    assert expected
    for alert in expected:
        assert set(alert["exp_annotations"]) == {"runbook_url", "dashboard_url"}


def test_the_promtool_tests_copy_reads_the_rendered_rules_and_fills_the_mixins_text(
    tmp_path: Path,
) -> None:
    source = tmp_path / "prometheus_alerts.yaml"
    source.write_text(synthetic_text(), encoding="utf-8")
    output, tests = tmp_path / "django-mixin.yml", tmp_path / "django_mixin_test.yml"
    arguments = ["--upstream", str(source), "--output", str(output)]

    assert mixin.main([*arguments, "--unit-tests-output", str(tests)]) == 0
    document = yaml.safe_load(tests.read_text(encoding="utf-8"))
    assert document["rule_files"] == [str(output.resolve())]
    annotations = [
        alert["exp_annotations"]
        for case in document["tests"]
        for check in case.get("alert_rule_test") or []
        for alert in check["exp_alerts"]
        if check["alertname"] == "DjangoDatabaseException"
    ]
    assert annotations[0]["summary"] == "Synthetic: a database error."
    assert annotations[0]["description"] == "todo-api saw a UniqueViolation."
    assert re.fullmatch(r".*/DjangoDatabaseException\.md", annotations[0]["runbook_url"])


def test_the_promtool_tests_pass_on_the_synthetic_alerts(tmp_path: Path) -> None:
    """The tests' input series and expected alerts are consistent with alerts that mean what
    their names say; `make check-django-mixin` runs them on the real mixin."""
    source = tmp_path / "prometheus_alerts.yaml"
    source.write_text(synthetic_text(), encoding="utf-8")
    output, tests = tmp_path / "django-mixin.yml", tmp_path / "django_mixin_test.yml"
    arguments = ["--upstream", str(source), "--output", str(output)]
    assert mixin.main([*arguments, "--unit-tests-output", str(tests)]) == 0

    run_tool("prometheus", "promtool", "check", "rules", str(output))
    run_tool("prometheus", "promtool", "test", "rules", str(tests))


def test_an_expected_alert_the_rendered_rules_lack_is_refused(tmp_path: Path) -> None:
    text = mixin.render(synthetic_text(), overrides_text(), load_slo().links)
    tests = yaml.safe_dump(
        {"rule_files": ["x.yml"], "tests": [{"alert_rule_test": [{"alertname": "DjangoNope"}]}]}
    )

    with pytest.raises(mixin.MixinError, match="DjangoNope is not in the rendered rules"):
        mixin.unit_tests(tests, tmp_path / "rules.yml", text)
