"""The GraphQL metrics (``todos_graphql_*``): what its SLO and dashboard are built on.

``todos_graphql_operations_total{operation_type, operation_name, outcome}`` counts every
request to ``/graphql/`` once: ``outcome`` is ``success`` (no errors), ``client_error`` (only
the client's codes) or ``server_error`` (any code in ``errors.SERVER_CODES``: the SLI's
failures, whatever the HTTP status, usually 200). ``todos_graphql_errors_total{code}`` counts
errors by code, ``todos_graphql_operation_duration_seconds{operation_type, operation_name}``
is the time in the view, with the request's trace as exemplar and the SLO's latency threshold
as a bucket boundary. Operation names are bounded (``operations.operation_label``). Every
known operation's series and every code exist at 0 from a worker's start.
"""

from __future__ import annotations

from prometheus_client import Counter

from app.graphql.errors import CODES
from app.graphql.operations import KNOWN_OPERATIONS
from app.telemetry.prometheus.buckets import LATENCY_BUCKETS
from app.telemetry.prometheus.histograms import ExemplarHistogram

OUTCOMES = ("success", "client_error", "server_error")

operations = Counter(
    "todos_graphql_operations",
    "GraphQL requests by operation and outcome (server_error: an error that is the server's "
    "fault, whatever the HTTP status).",
    ["operation_type", "operation_name", "outcome"],
)
errors = Counter(
    "todos_graphql_errors", "Errors in GraphQL responses by extensions.code.", ["code"]
)
duration_seconds = ExemplarHistogram(
    "todos_graphql_operation_duration_seconds",
    "Time to answer a GraphQL request, by operation.",
    ["operation_type", "operation_name"],
    buckets=LATENCY_BUCKETS,
)


def export_series_at_zero() -> None:
    """Create every known operation's series and every code's at 0 (once per process)."""
    for name, operation_type in KNOWN_OPERATIONS.items():
        duration_seconds.labels(operation_type, name)
        for outcome in OUTCOMES:
            operations.labels(operation_type, name, outcome)
    for code in CODES:
        errors.labels(code)


def record(
    *, operation_type: str, operation_name: str, outcome: str, codes: list[str], seconds: float
) -> None:
    """One answered GraphQL request."""
    operations.labels(operation_type, operation_name, outcome).inc()
    duration_seconds.labels(operation_type, operation_name).observe(seconds)
    for code in codes:
        errors.labels(code).inc()
