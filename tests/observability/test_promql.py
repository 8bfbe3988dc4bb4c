"""The PromQL metric-name extraction the live test relies on."""

from __future__ import annotations

import json

import pytest

from observability.grafana.dashboards.src.queries import panel_queries
from tests.support.promql import is_recorded, metric_names
from tests.support.rules import ROOT, all_rules, recording_rules


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="todo-api"} == 0', {"up"}),
        (
            "sum by (view) (rate(django_http_responses_total_by_status_view_method_total"
            '{job="$job",status=~"5.."}[$__rate_interval]))',
            {"django_http_responses_total_by_status_view_method_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1e6 * 0.3",
            {"x_bucket"},
        ),
        (
            "slo:sli_error:ratio_rate1h / on (slo, service) group_left slo:error_budget:ratio",
            {"slo:sli_error:ratio_rate1h", "slo:error_budget:ratio"},
        ),
        ('label_replace(vector(0), "alertname", "none", "", "") or ALERTS', {"ALERTS"}),
        ("a and b unless c or d offset 5m", {"a", "b", "c", "d"}),
        ('time() - process_start_time_seconds{role="master"}', {"process_start_time_seconds"}),
    ],
)
def test_it_finds_exactly_the_metrics_an_expression_reads(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_recorded_series_the_dashboards_and_rules_read_is_recorded() -> None:
    """A typo in a recording-rule name would leave a panel or alert silently empty."""
    recorded = {rule.name for rule in recording_rules()}
    read = {name for rule in all_rules() for name in metric_names(rule.body["expr"])}
    for path in sorted((ROOT / "observability" / "grafana" / "dashboards").glob("*.json")):
        for query in panel_queries(json.loads(path.read_text())):
            read |= metric_names(query.expr)
    assert {name for name in read if is_recorded(name)} - recorded == set()
