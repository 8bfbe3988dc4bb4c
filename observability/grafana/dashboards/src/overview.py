"""Todo API / Service overview: is the API serving, how fast, and which route is hurting?

The objectives and the latency threshold come from the SLO file (see ``slo_values``).
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from observability.slo import AVAILABILITY_METRIC, LATENCY_METRIC, OVERVIEW_DASHBOARD_UID, Slo

from .common import (
    GREEN,
    RED,
    YELLOW,
    Query,
    Row,
    Steps,
    dashboard,
    quantile,
    sel,
    stat_panel,
    sum_rate,
    timeseries_panel,
)
from .slo_values import allowed_errors_text, percent, resolve, threshold_text

UID = OVERVIEW_DASHBOARD_UID
TITLE = "Todo API / Service overview"

RESPONSES = AVAILABILITY_METRIC
LATENCY = f"{LATENCY_METRIC}_bucket"
LATENCY_COUNT = f"{LATENCY_METRIC}_count"
LATENCY_ALL = "django_http_requests_latency_including_middlewares_seconds_bucket"


def error_steps(slo: Slo) -> Steps:
    """5xx ratio colours: yellow above the availability budget (it spends budget faster than
    allowed), red above ten times the budget."""
    allowed = slo.availability.max_failure_ratio
    return [(None, GREEN), (allowed, YELLOW), (round(allowed * 10, 12), RED)]


def latency_steps(slo: Slo) -> Steps:
    """Latency colours: yellow from two thirds of the SLO threshold, red above the threshold."""
    threshold = slo.latency.threshold_seconds
    return [(None, GREEN), (round(threshold * 2 / 3, 3), YELLOW), (threshold, RED)]


def error_ratio(by: str) -> str:
    """5xx share of responses grouped `by` labels ("" = overall); 0, not "no data", when none."""
    errors = sum_rate(RESPONSES, 'status=~"5.."', by=by)
    total = sum_rate(RESPONSES, by=by)
    return f"({errors} or {total} * 0) / {total}"


def _summary(slo: Slo) -> Row:
    return Row(
        "Golden signals",
        [
            stat_panel(
                "Request rate",
                "Responses per second over all routes. Bad: a sudden drop to 0 while clients "
                "are active (nothing reaches the app) or a spike far above the usual load.",
                "reqps",
                [Query(sum_rate(RESPONSES), "requests/s")],
            ),
            stat_panel(
                "Error ratio (5xx)",
                "Share of responses with a 5xx status over all routes. Bad: above "
                f"{allowed_errors_text(slo)}, the availability objective "
                f"({percent(slo.availability.objective)}); the SLO dashboard shows the budget "
                "burn.",
                "percentunit",
                [Query(error_ratio(""), "5xx ratio")],
                steps=error_steps(slo),
                decimals=2,
            ),
            stat_panel(
                "Latency p99",
                "99th percentile of view latency over all routes. Bad: above "
                f"{threshold_text(slo)}, the latency SLO threshold "
                f"({percent(slo.latency.objective)} of requests must be faster).",
                "s",
                [Query(quantile(0.99, LATENCY, ""), "p99")],
                steps=latency_steps(slo),
            ),
            stat_panel(
                "Requests in flight (now)",
                "Requests being processed right now, summed over the selected instances. Bad: "
                "close to the number of gunicorn workers (x threads): new requests queue.",
                "short",
                [Query(f"sum(todos_http_requests_in_flight{sel()})", "in flight")],
            ),
        ],
    )


def _client_errors() -> str:
    """4xx responses per second by route and status; with no 4xx yet one 0 line per route
    (status "none"), not "no data"."""
    errors = sum_rate(RESPONSES, 'status=~"4.."', by="view, status")
    total = sum_rate(RESPONSES, by="view")
    return f'{errors} or label_replace({total} * 0, "status", "none", "", "")'


def _traffic(slo: Slo) -> Row:
    return Row(
        "Traffic and errors",
        [
            timeseries_panel(
                "Request rate by route",
                "Responses per second by Django view (route) and method. Bad: a route dropping "
                "to 0 while others serve (broken routing or clients), or an unexpected surge.",
                "reqps",
                [Query(sum_rate(RESPONSES, by="view, method"), "{{method}} {{view}}")],
            ),
            timeseries_panel(
                "Responses by status code",
                "Responses per second by HTTP status, stacked. Bad: a growing 5xx band (server "
                "errors), 429 (throttling) or 401/403 surges (auth broken or an attack).",
                "reqps",
                [Query(sum_rate(RESPONSES, by="status"), "{{status}}")],
                stacked=True,
            ),
            timeseries_panel(
                "Error ratio (5xx) by route",
                "Share of each route's responses answered with a 5xx status (0 when there are "
                f"none). Bad: any route above the dashed {allowed_errors_text(slo)} line for "
                "more than a few minutes.",
                "percentunit",
                [Query(error_ratio("view"), "{{view}}")],
                steps=error_steps(slo),
                maximum=None,
            ),
            timeseries_panel(
                "Client errors (4xx) by route",
                "Responses per second with a 4xx status by route and status. Bad: 401/403 spikes "
                "(expired tokens, auth misconfiguration), 429 (throttle too tight), 404 bursts.",
                "reqps",
                [Query(_client_errors(), "{{status}} {{view}}")],
            ),
        ],
    )


def _within_threshold(slo: Slo) -> str:
    """Share of requests within the latency threshold, as the latency SLI counts them: one
    histogram bucket (`le` = the threshold), without the views the SLI leaves out."""
    excluded = slo.latency.exclusions()
    le = f'le="{slo.latency.bucket_le()}"'
    return f"{sum_rate(LATENCY, *excluded, le)} / {sum_rate(LATENCY_COUNT, *excluded)}"


def _latency(slo: Slo) -> Row:
    threshold = threshold_text(slo)
    excluded = slo.latency.excluded_views
    leaves_out = (
        f" Leaves out the views the latency SLI excludes ({', '.join(excluded)}; "
        "observability/slo.yaml), like the SLO rules."
        if excluded
        else ""
    )
    return Row(
        "Latency",
        [
            timeseries_panel(
                "Latency p50 / p95 / p99 by route",
                "Percentiles of view latency by route (exemplar dots link to the trace). Bad: "
                f"p99 above the dashed {threshold} SLO threshold; p50 rising means everything "
                "slowed.",
                "s",
                [
                    Query(quantile(q, LATENCY, "view"), f"p{round(q * 100)} {{{{view}}}}", True)
                    for q in (0.5, 0.95, 0.99)
                ],
                width=16,
                height=10,
                steps=latency_steps(slo),
            ),
            timeseries_panel(
                f"Requests faster than {threshold}",
                f"Share of requests answered within the {threshold} SLO threshold (one histogram "
                f"bucket, not interpolated).{leaves_out} Bad: below the dashed "
                f"{percent(slo.latency.objective)} line.",
                "percentunit",
                [Query(_within_threshold(slo), f"within {threshold}")],
                width=8,
                height=10,
                steps=[(None, RED), (slo.latency.objective, GREEN)],
                minimum=None,
                maximum=1,
            ),
            timeseries_panel(
                "Latency including middlewares p50 / p95 / p99",
                "Percentiles of the whole Django request (authentication, sessions, telemetry "
                "middlewares and the view). Bad: far above the per-route latency.",
                "s",
                [
                    Query(quantile(q, LATENCY_ALL, ""), f"p{round(q * 100)}")
                    for q in (0.5, 0.95, 0.99)
                ],
                steps=latency_steps(slo),
            ),
            timeseries_panel(
                "Requests in flight",
                "Requests being processed at each instance (sampled at scrape time). Bad: a "
                "sustained plateau at the worker capacity: requests queue and latency climbs.",
                "short",
                [
                    Query(
                        f"sum by (instance) (todos_http_requests_in_flight{sel()})", "{{instance}}"
                    )
                ],
            ),
        ],
    )


def _payload() -> Row:
    return Row(
        "Payload",
        [
            timeseries_panel(
                "Response body size p95",
                "95th percentile of response body sizes. Bad: growth without a feature change "
                "(unpaginated list, a client asking for huge pages).",
                "bytes",
                [
                    Query(
                        quantile(0.95, "django_http_responses_body_total_bytes_bucket", ""),
                        "responses p95",
                    ),
                    Query(
                        quantile(0.95, "django_http_requests_body_total_bytes_bucket", ""),
                        "requests p95",
                    ),
                ],
                width=24,
                height=7,
            ),
        ],
    )


def build(slo: Slo | None = None) -> Dashboard:
    """The service overview dashboard: RED signals by route (`slo`: default the SLO file's)."""
    slo = resolve(slo)
    return dashboard(
        UID,
        TITLE,
        "Rate, errors and duration of the Todo API by route: the first stop when paged.",
        [_summary(slo), _traffic(slo), _latency(slo), _payload()],
    )
