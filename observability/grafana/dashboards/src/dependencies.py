"""Todo API / Dependencies: is the database or the cache what makes the API slow or fail?"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from loadtests.slo import Slo

from .common import GREEN, RED, YELLOW, Query, Row, dashboard, sel, timeseries_panel

UID = "todo-api-dependencies"
TITLE = "Todo API / Dependencies"
RATE = "[$__rate_interval]"
DB_BY = "alias, vendor"


def dependency_errors(dependency: str) -> str:
    """Errors per second talking to `dependency`; 0 rather than no data when there are none."""
    selector = sel(f'dependency="{dependency}"')
    return f"sum(rate(todos_dependency_errors_total{selector}{RATE})) or vector(0)"


def _database() -> Row:
    return Row(
        "Database",
        [
            timeseries_panel(
                "Database queries per second",
                "SQL statements executed per second by database alias. Bad: a jump without a "
                "matching rise in requests (an N+1 query slipped in) or a drop to 0 under load.",
                "ops",
                [
                    Query(
                        f"sum by ({DB_BY}) (rate(django_db_execute_total{sel()}{RATE}))",
                        "{{alias}} ({{vendor}})",
                    )
                ],
                width=8,
            ),
            timeseries_panel(
                "Database query latency p95",
                "95th percentile of SQL statement duration by database alias. Bad: above a few "
                "milliseconds for these simple queries (locks, missing index, saturated server).",
                "s",
                [
                    Query(
                        "histogram_quantile(0.95, sum by (alias, le) "
                        f"(rate(django_db_query_duration_seconds_bucket{sel()}{RATE})))",
                        "p95 {{alias}}",
                    )
                ],
                width=8,
                steps=[(None, GREEN), (0.05, YELLOW), (0.1, RED)],
            ),
            timeseries_panel(
                "Queries per request",
                "Average SQL statements per HTTP request. Bad: growing with list sizes (an N+1 "
                "query) or a step up after a deploy.",
                "short",
                [
                    Query(
                        f"sum(rate(django_db_execute_total{sel()}{RATE})) / "
                        "sum(rate(django_http_requests_total_by_view_transport_method_total"
                        f"{sel()}{RATE}))",
                        "queries / request",
                    )
                ],
                width=8,
            ),
            timeseries_panel(
                "Database errors",
                "Errors per second talking to the database (connection refused, timeouts, "
                "operational errors; 0 when healthy). Bad: above 0 (TodoApiDatabaseErrors).",
                "ops",
                [Query(dependency_errors("database"), "database errors")],
                steps=[(None, GREEN), (0.001, RED)],
            ),
            timeseries_panel(
                "New database connections",
                "Database connections opened per second. Bad: close to the request rate: "
                "connections are not reused (CONN_MAX_AGE=0 costs about 5x throughput).",
                "ops",
                [
                    Query(
                        f"sum by ({DB_BY}) (rate(django_db_new_connections_total{sel()}{RATE}))",
                        "{{alias}} ({{vendor}})",
                    )
                ],
            ),
        ],
    )


def _cache() -> Row:
    hits = f"sum by (backend) (rate(django_cache_get_hits_total{sel()}{RATE}))"
    misses = f"sum by (backend) (rate(django_cache_get_misses_total{sel()}{RATE}))"
    gets = f"sum by (backend) (rate(django_cache_get_total{sel()}{RATE}))"
    return Row(
        "Cache",
        [
            timeseries_panel(
                "Cache hit ratio",
                "Share of cache reads that found the key, by backend. Bad: a drop after a deploy "
                "or a cache restart that does not recover (TodoApiCacheMissRatioHigh).",
                "percentunit",
                [Query(f"{hits} / {gets}", "{{backend}}")],
                width=8,
                maximum=1,
                steps=[(None, RED), (0.5, YELLOW), (0.8, GREEN)],
            ),
            timeseries_panel(
                "Cache gets per second",
                "Cache reads per second by backend, split into hits and misses. Bad: misses "
                "growing while hits fall (evictions, a key change) pushing load onto the database.",
                "ops",
                [Query(hits, "hits {{backend}}"), Query(misses, "misses {{backend}}")],
                width=8,
                stacked=True,
            ),
            timeseries_panel(
                "Cache errors",
                "Errors per second talking to the cache (Redis unreachable, timeouts; 0 when "
                "healthy). Bad: anything above 0: requests fall back to the database or fail.",
                "ops",
                [Query(dependency_errors("cache"), "cache errors")],
                width=8,
                steps=[(None, GREEN), (0.001, RED)],
            ),
        ],
    )


def build(slo: Slo | None = None) -> Dashboard:
    """The dependencies dashboard: database and cache throughput, latency and errors.

    Shows no SLO numbers: `slo` is accepted (and ignored) so every dashboard builds alike.
    """
    return dashboard(
        UID,
        TITLE,
        "Database and cache as the Todo API sees them: throughput, latency, errors, "
        "connection churn and cache efficiency.",
        [_database(), _cache()],
    )
