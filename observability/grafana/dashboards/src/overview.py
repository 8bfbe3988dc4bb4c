"""Todo API / Service overview: is the API serving, how fast, and which route is hurting?"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from .common import (
    GREEN,
    RED,
    YELLOW,
    Query,
    Row,
    dashboard,
    sel,
    stat_panel,
    timeseries_panel,
)

UID = "todo-api-overview"
TITLE = "Todo API / Service overview"

RESPONSES = "django_http_responses_total_by_status_view_method_total"
LATENCY = "django_http_requests_latency_seconds_by_view_method_bucket"
LATENCY_COUNT = "django_http_requests_latency_seconds_by_view_method_count"
LATENCY_ALL = "django_http_requests_latency_including_middlewares_seconds_bucket"
RATE = "[$__rate_interval]"
CLIENT_ERRORS = sel('status=~"4.."')
WITHIN_THRESHOLD = sel('le="0.3"')

# Availability objective 99.9%: a 5xx ratio above 0.1% spends budget faster than allowed.
ERROR_STEPS = [(None, GREEN), (0.001, YELLOW), (0.01, RED)]
# Latency objective: 99% of requests within 300 ms (observability/slo.yaml).
LATENCY_STEPS = [(None, GREEN), (0.2, YELLOW), (0.3, RED)]


def _rate(matchers: str = "", by: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum"
    selector = sel(matchers) if matchers else sel()
    return f"{grouping}(rate({RESPONSES}{selector}{RATE}))"


def error_ratio(by: str) -> str:
    """5xx share of responses grouped `by` labels ("" = overall); 0, not "no data", when none."""
    errors = _rate('status=~"5.."', by)
    total = _rate(by=by)
    return f"({errors} or {total} * 0) / {total}"


def quantile(q: float, metric: str, by: str) -> str:
    """`histogram_quantile` of a latency histogram, grouped by `le` and `by`."""
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({metric}{sel()}{RATE})))"


def _summary() -> Row:
    return Row(
        "Golden signals",
        [
            stat_panel(
                "Request rate",
                "Responses per second over all routes. Bad: a sudden drop to 0 while clients "
                "are active (nothing reaches the app) or a spike far above the usual load.",
                "reqps",
                [Query(_rate(), "requests/s")],
            ),
            stat_panel(
                "Error ratio (5xx)",
                "Share of responses with a 5xx status over all routes. Bad: above 0.1%, the "
                "availability objective (99.9%); the SLO dashboard shows the budget burn.",
                "percentunit",
                [Query(error_ratio(""), "5xx ratio")],
                steps=ERROR_STEPS,
                decimals=2,
            ),
            stat_panel(
                "Latency p99",
                "99th percentile of view latency over all routes. Bad: above 300 ms, the latency "
                "SLO threshold (99% of requests must be faster).",
                "s",
                [Query(quantile(0.99, LATENCY, ""), "p99")],
                steps=LATENCY_STEPS,
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


def _traffic() -> Row:
    return Row(
        "Traffic and errors",
        [
            timeseries_panel(
                "Request rate by route",
                "Responses per second by Django view (route) and method. Bad: a route dropping "
                "to 0 while others serve (broken routing or clients), or an unexpected surge.",
                "reqps",
                [Query(_rate(by="view, method"), "{{method}} {{view}}")],
            ),
            timeseries_panel(
                "Responses by status code",
                "Responses per second by HTTP status, stacked. Bad: a growing 5xx band (server "
                "errors), 429 (throttling) or 401/403 surges (auth broken or an attack).",
                "reqps",
                [Query(_rate(by="status"), "{{status}}")],
                stacked=True,
            ),
            timeseries_panel(
                "Error ratio (5xx) by route",
                "Share of each route's responses answered with a 5xx status (0 when there are "
                "none). Bad: any route above the dashed 0.1% line for more than a few minutes.",
                "percentunit",
                [Query(error_ratio("view"), "{{view}}")],
                steps=ERROR_STEPS,
                maximum=None,
            ),
            timeseries_panel(
                "Client errors (4xx) by route",
                "Responses per second with a 4xx status by route and status. Bad: 401/403 spikes "
                "(expired tokens, auth misconfiguration), 429 (throttle too tight), 404 bursts.",
                "reqps",
                [
                    Query(
                        # no 4xx yet: one 0 line per route ("none"), not "no data"
                        f"sum by (view, status) (rate({RESPONSES}{CLIENT_ERRORS}{RATE}))"
                        f' or label_replace({_rate(by="view")} * 0, "status", "none", "", "")',
                        "{{status}} {{view}}",
                    )
                ],
            ),
        ],
    )


def _latency() -> Row:
    return Row(
        "Latency",
        [
            timeseries_panel(
                "Latency p50 / p95 / p99 by route",
                "Percentiles of view latency by route (exemplar dots link to the trace). Bad: "
                "p99 above the dashed 300 ms SLO threshold; p50 rising means everything slowed.",
                "s",
                [
                    Query(quantile(q, LATENCY, "view"), f"p{round(q * 100)} {{{{view}}}}", True)
                    for q in (0.5, 0.95, 0.99)
                ],
                width=16,
                height=10,
                steps=LATENCY_STEPS,
            ),
            timeseries_panel(
                "Requests faster than 300 ms",
                "Share of requests answered within the 300 ms SLO threshold (one histogram "
                "bucket, not interpolated). Bad: below the dashed 99% line.",
                "percentunit",
                [
                    Query(
                        f"sum(rate({LATENCY}{WITHIN_THRESHOLD}{RATE})) "
                        f"/ sum(rate({LATENCY_COUNT}{sel()}{RATE}))",
                        "within 300 ms",
                    )
                ],
                width=8,
                height=10,
                steps=[(None, RED), (0.99, GREEN)],
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
                steps=LATENCY_STEPS,
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


def build() -> Dashboard:
    """The service overview dashboard: RED signals by route."""
    return dashboard(
        UID,
        TITLE,
        "Rate, errors and duration of the Todo API by route: the first stop when paged.",
        [_summary(), _traffic(), _latency(), _payload()],
    )
