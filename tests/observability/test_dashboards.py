"""The Grafana dashboards (generated from observability/grafana/dashboards/src/) and provisioning.

Offline checks of the committed JSON: current with the code, the fixed uids and titles, every
panel usable (unit, description, `${datasource}`), every query scoped to `$job`/`$instance`
(or to an SLO) with `$__rate_interval` windows, and the datasources' cross-signal links.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.grafana.dashboards.src import generate, slo_values
from observability.grafana.dashboards.src.queries import PanelQuery, panel_queries, substitute
from observability.slo import AvailabilityObjective, GraphqlSlo, JobsSlo, Slo, load_slo

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "observability" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"

EXPECTED = {
    "todo-api-overview": "Todo API / Service overview",
    "todo-api-slo": "Todo API / SLO",
    "todo-api-dependencies": "Todo API / Dependencies",
    "todo-api-runtime": "Todo API / Runtime",
    "todo-api-business": "Todo API / Business",
    "todo-api-jobs": "Todo API / Jobs",
    "todo-api-graphql": "Todo API / GraphQL",
}
# Dashboards on the Celery worker's metrics too: its own job and instance variables.
WORKER_DASHBOARDS = {"todo-api-jobs"}
WORKER_METRICS = re.compile(r"^(celery_|todos_exports_finished|todos_export_completion)")
REQUIRED_PANELS = {
    "todo-api-overview": [
        "Request rate by route",
        "Error ratio (5xx) by route",
        "Responses by status code",
        "Latency p50 / p95 / p99 by route",
        "Requests in flight",
    ],
    "todo-api-slo": [
        "Availability SLI (30d)",
        "Latency SLI (30d)",
        "Error budget remaining",
        "Burn rate by window (availability)",
        "Burn rate by window (latency)",
        "SLO alerts",
        "Availability objective",
        "Latency objective",
    ],
    "todo-api-dependencies": [
        "Database queries per second",
        "Database query latency p95",
        "Database errors",
        "New database connections",
        "Unapplied migrations",
        "Cache hit ratio",
        "Cache gets per second",
    ],
    "todo-api-runtime": [
        "CPU per process",
        "Resident memory per process",
        "Open file descriptors",
        "Gunicorn workers alive",
        "Worker exits",
        "Spans exported / dropped",
    ],
    "todo-api-business": ["Todos created", "Todos completed", "Todos deleted", "Fault switch"],
    "todo-api-graphql": [
        "GraphQL availability SLI (30d)",
        "Operations by name",
        "Operations by outcome",
        "Errors by code",
        "Latency p95 by operation",
    ],
    "todo-api-jobs": [
        "Exports finished by outcome",
        "Export completion p50 / p95 / p99",
        "Queue length",
        "Workers up",
        "Failures by task",
        "Burn rate by window (jobs-availability)",
    ],
}
# `rate(x[...])`, `increase(x[...])`, `irate(x[...])`: the range inside the brackets.
RANGE_FUNCTION = re.compile(r"\b(?:rate|irate|increase)\((?P<arg>[^\[]*)\[(?P<range>[^\]]+)\]")
SLO_SERIES = re.compile(r"^(1 - )?slo:")
SELECTOR = re.compile(r"(?<![\w:])(?P<metric>[A-Za-z_][\w:]*)\{(?P<matchers>[^}]*)\}")
GRID_COLUMNS = 24


def load(uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / f"{uid}.json").read_text("utf-8"))
    return data


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including those nested in (collapsed) rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels") or [])
        else:
            found.append(panel)
    return found


def all_queries() -> list[PanelQuery]:
    return [query for uid in EXPECTED for query in panel_queries(load(uid))]


def test_committed_json_is_what_the_code_generates() -> None:
    stale = generate.stale_files()
    assert not stale, f"stale dashboards {stale}: run `{generate.COMMAND}` and commit the JSON"


def test_there_is_exactly_one_file_per_dashboard_named_by_uid() -> None:
    assert sorted(path.name for path in DASHBOARDS.glob("*.json")) == sorted(
        f"{uid}.json" for uid in EXPECTED
    )
    for uid, title in EXPECTED.items():
        dashboard = load(uid)
        assert (dashboard["uid"], dashboard["title"]) == (uid, title)


@pytest.mark.parametrize("uid", EXPECTED)
def test_dashboard_settings_are_the_shared_ones(uid: str) -> None:
    dashboard = load(uid)
    assert dashboard["tags"] == ["todo-api"]
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-1h", "to": "now"}
    assert dashboard["timezone"] == "browser"
    assert {"type": "dashboards", "tags": ["todo-api"]}.items() <= dashboard["links"][0].items()


@pytest.mark.parametrize("uid", EXPECTED)
def test_dashboard_has_the_datasource_job_and_instance_variables(uid: str) -> None:
    variables = {v["name"]: v for v in load(uid)["templating"]["list"]}
    datasource, job, instance = variables["datasource"], variables["job"], variables["instance"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    assert datasource["current"]["value"] == "prometheus"
    assert job["type"] == "query"
    assert job["query"] == "label_values(django_http_requests_before_middlewares_total, job)"
    assert job["current"]["value"] == "todo-api"
    assert instance["query"] == (
        'label_values(django_http_requests_before_middlewares_total{job="$job"}, instance)'
    )
    assert (instance["multi"], instance["includeAll"], instance["allValue"]) == (True, True, ".*")
    for variable in (job, instance):
        assert variable["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("uid", sorted(WORKER_DASHBOARDS))
def test_worker_dashboards_have_the_worker_job_and_instance_variables(uid: str) -> None:
    variables = {v["name"]: v for v in load(uid)["templating"]["list"]}
    job, instance = variables["worker_job"], variables["worker_instance"]
    assert job["query"] == "label_values(celery_worker_up, job)"
    assert job["current"]["value"] == "todo-worker"
    assert instance["query"] == 'label_values(celery_worker_up{job="$worker_job"}, instance)'
    assert (instance["multi"], instance["includeAll"], instance["allValue"]) == (True, True, ".*")


@pytest.mark.parametrize("uid", EXPECTED)
def test_every_panel_has_a_unit_a_description_and_the_datasource_variable(uid: str) -> None:
    panels = all_panels(load(uid))
    assert panels
    for panel in panels:
        title = panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{uid} / {title}: no unit"
        assert panel.get("description", "").strip(), f"{uid} / {title}: no description"
        assert panel["datasource"]["uid"] == "${datasource}", f"{uid} / {title}"
        assert panel["targets"], f"{uid} / {title}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", f"{uid} / {title}"
            assert target.get("expr"), f"{uid} / {title} {target['refId']}: no expr"


@pytest.mark.parametrize("uid", EXPECTED)
def test_panels_fit_the_grid_without_overlapping(uid: str) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in load(uid)["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= GRID_COLUMNS, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & area, f"{uid} / {panel['title']} overlaps another panel"
        cells |= area


@pytest.mark.parametrize("uid", EXPECTED)
def test_panel_ids_are_unique(uid: str) -> None:
    ids = [panel["id"] for panel in load(uid)["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_is_scoped_to_the_job_or_to_an_slo() -> None:
    for query in all_queries():
        where = f"{query.dashboard_uid} / {query.panel_title} {query.ref_id}"
        if SLO_SERIES.match(query.expr):
            assert re.search(r'\{slo=~?"[^"]+"', query.expr), where
            assert "$instance" not in query.expr, where
        elif query.dashboard_uid in WORKER_DASHBOARDS and "$worker_job" in query.expr:
            assert 'job="$worker_job"' in query.expr or 'job=~"$worker_job' in query.expr, where
        else:
            assert 'job="$job"' in query.expr or 'job=~"$job' in query.expr, where


def test_every_raw_metric_selector_carries_job_and_instance() -> None:
    for query in all_queries():
        for match in SELECTOR.finditer(query.expr):
            metric, matchers = match.group("metric"), match.group("matchers")
            if metric == "ALERTS" or ":" in metric:  # Prometheus' own, or recorded
                continue
            where = f"{query.dashboard_uid} / {query.panel_title}: {metric}"
            if WORKER_METRICS.match(metric):  # served by the worker: its own job
                assert query.dashboard_uid in WORKER_DASHBOARDS, where
                assert 'job="$worker_job"' in matchers, where
                assert 'instance=~"$worker_instance"' in matchers, where
                continue
            assert 'job="$job"' in matchers, where
            assert 'instance=~"$instance"' in matchers, where


def test_every_rate_and_increase_uses_the_rate_interval() -> None:
    ranges = [
        (query, match) for query in all_queries() for match in RANGE_FUNCTION.finditer(query.expr)
    ]
    assert ranges
    for query, match in ranges:
        assert match.group("range") == "$__rate_interval", (
            f"{query.dashboard_uid} / {query.panel_title}: {match.group(0)}"
        )


@pytest.mark.parametrize(
    ("uid", "title"),
    [
        ("todo-api-overview", "Latency p50 / p95 / p99 by route"),
        ("todo-api-jobs", "Export completion p50 / p95 / p99"),
    ],
)
def test_latency_percentiles_fetch_exemplars(uid: str, title: str) -> None:
    panel = next(p for p in all_panels(load(uid)) if p["title"] == title)
    assert all(target["exemplar"] for target in panel["targets"])


def test_error_ratio_falls_back_to_zero_without_server_errors() -> None:
    panel = next(
        p
        for p in all_panels(load("todo-api-overview"))
        if p["title"] == "Error ratio (5xx) by route"
    )
    (target,) = panel["targets"]
    assert 'status=~"5.."' in target["expr"]
    assert " * 0) / " in target["expr"]


def test_slo_alerts_panel_shows_the_todo_api_alerts() -> None:
    panel = next(p for p in all_panels(load("todo-api-slo")) if p["title"] == "SLO alerts")
    assert panel["type"] in {"state-timeline", "timeseries"}
    assert 'ALERTS{alertname=~"TodoApi.*"' in panel["targets"][0]["expr"]


@pytest.mark.parametrize(("uid", "titles"), REQUIRED_PANELS.items())
def test_the_panels_runbooks_refer_to_exist(uid: str, titles: list[str]) -> None:
    present = {panel["title"] for panel in all_panels(load(uid))}
    assert set(titles) <= present, set(titles) - present


def test_ratio_panels_use_percent_and_latency_panels_seconds() -> None:
    for uid in EXPECTED:
        for panel in all_panels(load(uid)):
            unit = panel["fieldConfig"]["defaults"]["unit"]
            title = panel["title"].lower()
            if re.search(r"\bratio\b|\bslis?\b", title):  # words: not "migrations"
                assert unit == "percentunit", f"{uid} / {panel['title']}"
            if "latency" in title and "p9" in title:
                assert unit == "s", f"{uid} / {panel['title']}"


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text("utf-8"))
    return {source["uid"]: source for source in config["datasources"]}


def test_datasources_have_the_fixed_uids_and_urls() -> None:
    sources = provisioned_datasources()
    assert {uid: (s["type"], s["url"]) for uid, s in sources.items()} == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "tempo": ("tempo", "http://tempo:3200"),
        "loki": ("loki", "http://loki:3100"),
    }
    assert sources["prometheus"]["jsonData"]["timeInterval"] == "15s"


def test_prometheus_exemplars_link_to_tempo_by_trace_id() -> None:
    destinations = provisioned_datasources()["prometheus"]["jsonData"][
        "exemplarTraceIdDestinations"
    ]
    assert {"name": "trace_id", "datasourceUid": "tempo"}.items() <= destinations[0].items()


def test_loki_trace_ids_link_to_tempo() -> None:
    (field,) = provisioned_datasources()["loki"]["jsonData"]["derivedFields"]
    assert field["matcherRegex"] == '"trace_id":"([0-9a-f]{32})"'
    assert field["datasourceUid"] == "tempo"
    assert field["url"] == "$${__value.raw}"  # `$$`: a literal `$` in provisioning files
    line = '{"event": "request", "trace_id":"' + "0af7651916cd43dd8448eb211c80319c" + '"}'
    assert re.search(field["matcherRegex"], line)


def test_tempo_traces_link_to_their_logs_in_loki() -> None:
    traces_to_logs = provisioned_datasources()["tempo"]["jsonData"]["tracesToLogsV2"]
    assert traces_to_logs["datasourceUid"] == "loki"
    assert traces_to_logs["filterByTraceID"] is True
    # the Loki stream label observability/alloy/config.alloy sets on the app's lines
    assert {"key": "service.name", "value": "service"} in traces_to_logs["tags"]


def test_dashboard_provider_loads_the_mounted_directory_into_the_todo_api_folder() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text("utf-8"))
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Todo API"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_stale_files_names_changed_and_unexpected_files(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.stale_files(tmp_path) == []
    (tmp_path / "todo-api-slo.json").write_text("{}\n", "utf-8")
    (tmp_path / "orphan.json").write_text("{}\n", "utf-8")
    assert generate.stale_files(tmp_path) == ["orphan.json", "todo-api-slo.json"]


def test_check_flag_exits_non_zero_and_names_the_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generate.write(tmp_path)
    monkeypatch.setattr(generate, "OUTPUT_DIR", tmp_path)
    assert generate.main(["--check"]) == 0
    (tmp_path / "todo-api-runtime.json").write_text("{}\n", "utf-8")
    assert generate.main(["--check"]) == 1
    error = capsys.readouterr().err
    assert "todo-api-runtime.json" in error
    assert generate.COMMAND in error


def test_generation_is_deterministic() -> None:
    assert generate.rendered() == generate.rendered()
    for text in generate.rendered().values():
        assert text.endswith("}\n")
        assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text


def strings(node: Any) -> Iterator[str]:
    """Every string in a JSON document (titles, descriptions, queries, legends...)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def threshold_values(panel: dict[str, Any]) -> set[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return {step["value"] for step in steps if step["value"] is not None}


def other_slo() -> Slo:
    """The SLO file's SLO with every number changed (the views left out stay the same)."""
    slo = load_slo()
    assert slo.jobs is not None
    return replace(
        slo,
        window="28d",
        availability=AvailabilityObjective(objective=0.995),
        latency=replace(slo.latency, objective=0.98, threshold_seconds=0.5),
        jobs=JobsSlo(
            job=slo.jobs.job,
            availability=AvailabilityObjective(objective=0.97),
            latency=replace(slo.jobs.latency, objective=0.95, threshold_seconds=120),
        ),
        graphql=GraphqlSlo(availability=AvailabilityObjective(objective=0.993)),
    )


def test_dashboards_take_every_slo_number_and_text_from_the_slo() -> None:
    """Render from another SLO, without writing files: nothing of the SLO file's may remain."""
    dashboards = {
        name.removesuffix(".json"): json.loads(text)
        for name, text in generate.rendered(other_slo()).items()
    }
    text = "\n".join(s for dashboard in dashboards.values() for s in strings(dashboard))
    for new in ('le="0.5"', "500 ms", "99.5%", "98%", "0.5%", "28 days", "28-day", "(28d)"):
        assert new in text, new
    for new in ("97%", "95%", 'le="120.0"', "120 s"):  # the jobs' SLOs
        assert new in text, new
    for new in ("99.3%", "0.7%"):  # the GraphQL SLO
        assert new in text, new
    for old in ('le="0.3"', "300 ms", "99.9%", "99%", "0.1%", "30 days", "30-day", "30d"):
        assert old not in text, old
    for old in ('le="60.0"', "60 s"):
        assert old not in text, old
    overview = {p["title"]: p for p in all_panels(dashboards["todo-api-overview"])}
    assert threshold_values(overview["Error ratio (5xx)"]) == {0.005, 0.05}
    assert threshold_values(overview["Latency p99"]) == {0.333, 0.5}
    assert threshold_values(overview["Requests faster than 500 ms"]) == {0.98}
    slo = {p["title"]: p for p in all_panels(dashboards["todo-api-slo"])}
    assert threshold_values(slo["Availability SLI (28d)"]) == {0.995}
    assert threshold_values(slo["Latency SLI (28d)"]) == {0.98}
    assert threshold_values(slo["Availability: bad-event ratio (5m / 1h)"]) == {0.005}
    assert threshold_values(slo["Latency: bad-event ratio (5m / 1h)"]) == {0.02}
    assert "slo:sli_error:ratio_rate28d" in slo["Latency SLI (28d)"]["targets"][0]["expr"]
    jobs = {p["title"]: p for p in all_panels(dashboards["todo-api-jobs"])}
    assert threshold_values(jobs["Export success SLI (28d)"]) == {0.97}
    assert threshold_values(jobs["Export latency SLI (28d)"]) == {0.95}
    assert threshold_values(jobs["Exports ready within 120 s"]) == {0.95}
    assert threshold_values(jobs["Export completion p50 / p95 / p99"]) == {80, 120}


def test_dashboards_default_to_the_slo_file() -> None:
    assert generate.rendered() == generate.rendered(load_slo())


def test_share_within_the_latency_threshold_counts_what_the_sli_counts() -> None:
    """Same bucket and same views left out as the latency SLI recorded by the SLO rules."""
    slo = load_slo()
    assert slo.latency.excluded_views
    panel = next(
        p
        for p in all_panels(load("todo-api-overview"))
        if p["title"] == f"Requests faster than {slo_values.threshold_text(slo)}"
    )
    (target,) = panel["targets"]
    exclusion = f'view!~"{"|".join(slo.latency.excluded_views)}"'
    assert target["expr"].count(exclusion) == 2  # the bucket and the count
    assert f'le="{slo.latency.bucket_le()}"' in target["expr"]
    for view in slo.latency.excluded_views:
        assert view in panel["description"]


@pytest.mark.parametrize(
    ("ratio", "text"), [(0.999, "99.9%"), (0.99, "99%"), (0.001, "0.1%"), (0.9995, "99.95%")]
)
def test_percent_texts(ratio: float, text: str) -> None:
    assert slo_values.percent(ratio) == text


def test_panel_queries_walks_panels_nested_in_rows() -> None:
    dashboard = {
        "uid": "d",
        "panels": [
            {"type": "row", "title": "r", "panels": [
                {"title": "nested", "targets": [{"refId": "A", "expr": "up"}]},
            ]},
            {"title": "top", "targets": [{"refId": "A", "expr": "x"}, {"refId": "B"}]},
            {"title": "text panel"},
        ],
    }  # fmt: skip
    assert panel_queries(dashboard) == [
        PanelQuery("d", "nested", "A", "up"),
        PanelQuery("d", "top", "A", "x"),
    ]


def test_panel_queries_finds_every_target_of_the_committed_dashboards() -> None:
    overview = load("todo-api-overview")
    expected = sum(len(panel["targets"]) for panel in all_panels(overview))
    assert len(panel_queries(overview)) == expected
    assert {q.dashboard_uid for q in all_queries()} == set(EXPECTED)


def test_substitute_replaces_every_variable_form() -> None:
    variables = {
        "job": "todo-api",
        "instance": ".*",
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "1h",
    }
    expr = (
        'rate(x{job="$job", instance=~"${instance}", a="${job:raw}"}[$__rate_interval]) '
        "+ y[$__interval] + z[${__range}] + $unknown"
    )
    assert substitute(expr, variables) == (
        'rate(x{job="todo-api", instance=~".*", a="todo-api"}[1m]) + y[15s] + z[1h] + $unknown'
    )


def test_substitute_does_not_confuse_names_sharing_a_prefix() -> None:
    assert substitute("$job $jobs ${job}s", {"job": "a", "jobs": "b"}) == "a b as"


def test_substituted_dashboard_queries_have_no_variables_left() -> None:
    variables = {
        "job": "todo-api",
        "instance": ".*",
        "worker_job": "todo-worker",
        "worker_instance": ".*",
        "__rate_interval": "1m",
    }
    for query in all_queries():
        assert "$" not in substitute(query.expr, variables), query
