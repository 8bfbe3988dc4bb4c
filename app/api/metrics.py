"""The API's own metric: requests answered 503 because a dependency was down.

Counted by ``app.api.exceptions``; both series are exported at 0 when a worker loads its
middlewares (``app.telemetry.prometheus.middleware`` imports this module), so the alert's rate
and the dashboards' panels exist before the first error.
"""

from __future__ import annotations

from prometheus_client import Counter

DEPENDENCIES = ("database", "cache", "queue")

dependency_errors = Counter(
    "todos_dependency_errors",
    "Requests answered 503 because a dependency (database, cache, job queue) was unreachable or "
    "timed out.",
    ["dependency"],
)
for _dependency in DEPENDENCIES:
    dependency_errors.labels(_dependency)
