"""Metrics of the API layer: requests refused because a dependency was unavailable."""

from prometheus_client import Counter

DEPENDENCIES = ("database", "cache")

dependency_errors = Counter(
    "todos_dependency_errors",
    "Requests answered 503 because a dependency (database, cache) was unreachable or timed out.",
    ["dependency"],
)
for _dependency in DEPENDENCIES:  # exported at 0, so the alert's rate exists before any error
    dependency_errors.labels(_dependency)
