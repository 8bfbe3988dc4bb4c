"""Todo API / GraphQL: every operation of ``/graphql/`` on its own, and errors by code.

HTTP-level panels see one route, ``POST /graphql/``, answering 200 even when a resolver
failed. This dashboard reads the GraphQL metrics (``app/graphql/metrics.py``): operations by
name and outcome, errors by ``extensions.code``, latency by operation (with trace exemplars),
and the GraphQL availability SLO (``slo.yaml``, ``graphql:``), whose failures are the
operations answered with a server error whatever their HTTP status.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from observability.prometheus.slo_rules import sli_error_series
from observability.slo import (
    GRAPHQL_DASHBOARD_UID,
    GRAPHQL_OPERATIONS_METRIC,
    GRAPHQL_SERVER_ERROR,
    GraphqlSlo,
    Slo,
    SloError,
    duration_text,
    error_budget,
)

from .common import (
    GREEN,
    RED,
    Query,
    Row,
    dashboard,
    quantile,
    stat_panel,
    sum_rate,
    timeseries_panel,
)
from .slo import BUDGET_STEPS, BURN_STEPS, BURN_UNIT, burn_alerts_text, burn_rate, burn_windows
from .slo_values import percent

UID = GRAPHQL_DASHBOARD_UID
TITLE = "Todo API / GraphQL"
AVAILABILITY = "graphql-availability"  # the rules' `slo` label
ERRORS_METRIC = "todos_graphql_errors_total"
DURATION_METRIC = "todos_graphql_operation_duration_seconds"
OPERATION = "operation_type, operation_name"
SERVER_ERROR = GRAPHQL_SERVER_ERROR  # outcome="server_error"


def _graphql(slo: Slo) -> GraphqlSlo:
    if slo.graphql is None:
        raise SloError(f"{slo.source}: the GraphQL dashboard needs the `graphql:` SLO")
    return slo.graphql


def _slo(slo: Slo) -> Row:
    objective = _graphql(slo).availability.objective
    return Row(
        "GraphQL SLO",
        [
            stat_panel(
                f"GraphQL availability SLI ({slo.window})",
                f"Share of GraphQL operations answered without a server error over the last "
                f"{duration_text(slo.window)} (mean of the 5-minute SLIs), whatever their HTTP "
                f"status. Bad: red, below the {percent(objective)} objective "
                "(observability/slo.yaml, graphql).",
                "percentunit",
                [Query(f"1 - {sli_error_series(slo, AVAILABILITY, slo.window)}", "SLI")],
                width=6,
                decimals=3,
                steps=[(None, RED), (objective, GREEN)],
            ),
            stat_panel(
                "GraphQL error budget remaining",
                "Share of the GraphQL availability SLO's error budget not yet spent (100% "
                "untouched, 0% exhausted, negative overspent). Bad: below 25%.",
                "percentunit",
                [
                    Query(
                        f'slo:error_budget_remaining:ratio{{slo="{AVAILABILITY}", '
                        f'service="{slo.service}"}}',
                        "budget",
                    )
                ],
                width=6,
                decimals=1,
                steps=BUDGET_STEPS,
            ),
            timeseries_panel(
                "GraphQL burn rate by window",
                f"Error-budget burn rate of the GraphQL availability SLO over each alerting "
                f"window (1x spends the budget in exactly {duration_text(slo.window)}). Bad: "
                f"{burn_alerts_text(AVAILABILITY)}.",
                BURN_UNIT,
                [Query(burn_rate(slo, AVAILABILITY, w), w) for w in burn_windows(slo)],
                steps=BURN_STEPS,
            ),
        ],
    )


def _operations(slo: Slo) -> Row:
    budget = error_budget(_graphql(slo).availability.objective)
    return Row(
        "Operations",
        [
            timeseries_panel(
                "Operations by name",
                "GraphQL operations per second by type and name (names the service does not "
                "know are `other`, unnamed ones `anonymous`, unparsable requests `unknown`). "
                "Bad: a drop to 0 for an operation clients rely on.",
                "ops",
                [
                    Query(
                        sum_rate(GRAPHQL_OPERATIONS_METRIC, by=OPERATION),
                        "{{operation_type}} {{operation_name}}",
                    )
                ],
            ),
            timeseries_panel(
                "Operations by outcome",
                "Operations per second that succeeded, failed by the client's mistake "
                "(validation, limits, not found) or by the server's (the SLI's failures, even "
                "with HTTP 200), stacked. Bad: any server_error.",
                "ops",
                [
                    Query(sum_rate(GRAPHQL_OPERATIONS_METRIC, by="outcome"), "{{outcome}}"),
                ],
                stacked=True,
            ),
            timeseries_panel(
                "Server errors by operation",
                "Share of each operation's requests answered with a server error "
                f"(INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE). Bad: above {percent(budget)} (the "
                "error budget).",
                "percentunit",
                [
                    Query(
                        f"{sum_rate(GRAPHQL_OPERATIONS_METRIC, SERVER_ERROR, by=OPERATION)}\n/\n"
                        f"({sum_rate(GRAPHQL_OPERATIONS_METRIC, by=OPERATION)} > 0)",
                        "{{operation_type}} {{operation_name}}",
                    )
                ],
                steps=[(None, GREEN), (budget, RED)],
            ),
            timeseries_panel(
                "Errors by code",
                "Errors in GraphQL responses per second by extensions.code. Bad: "
                "INTERNAL_SERVER_ERROR or SERVICE_UNAVAILABLE (the server's); a surge of "
                "QUERY_TOO_COMPLEX or THROTTLED (a client hammering the endpoint).",
                "ops",
                [Query(sum_rate(ERRORS_METRIC, by="code"), "{{code}}")],
            ),
        ],
    )


def _latency(slo: Slo) -> Row:
    bucket = f"{DURATION_METRIC}_bucket"
    threshold = slo.latency.threshold_seconds
    return Row(
        "Latency",
        [
            timeseries_panel(
                "Latency p95 by operation",
                "95th percentile of the time to answer each operation; dots are exemplars "
                "linking to the request's trace. Bad: above the latency SLO's threshold "
                f"({threshold:g} s).",
                "s",
                [
                    Query(
                        quantile(0.95, bucket, by=OPERATION),
                        "{{operation_type}} {{operation_name}}",
                        exemplar=True,
                    )
                ],
                steps=[(None, GREEN), (threshold, RED)],
            ),
            timeseries_panel(
                "Latency p50 / p99 (all operations)",
                "Median and 99th percentile over every GraphQL operation. Bad: p99 above "
                f"{threshold:g} s.",
                "s",
                [Query(quantile(q, bucket), f"p{round(q * 100)}") for q in (0.5, 0.99)],
                steps=[(None, GREEN), (threshold, RED)],
            ),
            timeseries_panel(
                "Mean operation time by operation",
                "Average time per operation: its duration sum over its count. Bad: one "
                "operation far above the others (an expensive query shape).",
                "s",
                [
                    Query(
                        f"{sum_rate(f'{DURATION_METRIC}_sum', by=OPERATION)}\n/\n"
                        f"({sum_rate(f'{DURATION_METRIC}_count', by=OPERATION)} > 0)",
                        "{{operation_type}} {{operation_name}}",
                    )
                ],
                width=24,
                height=7,
            ),
        ],
    )


def build(slo: Slo) -> Dashboard:
    """The GraphQL dashboard (needs the SLO file's `graphql:` section)."""
    return dashboard(
        UID,
        TITLE,
        "GraphQL operations by name and outcome, errors by code, latency by operation with "
        "exemplars, and the GraphQL availability SLO (failures counted even when HTTP says 200).",
        [_slo(slo), _operations(slo), _latency(slo)],
    )
