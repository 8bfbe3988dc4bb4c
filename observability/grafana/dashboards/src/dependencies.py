"""Todo API / Dependencies: is the database or the cache what makes the API slow or fail?"""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from observability.slo import DEPENDENCIES_DASHBOARD_UID

from .common import (
    GREEN,
    RED,
    YELLOW,
    Query,
    Row,
    quantile,
    sel,
    slo_free_build,
    stat_panel,
    sum_rate,
    timeseries_panel,
)

UID = DEPENDENCIES_DASHBOARD_UID
TITLE = "Todo API / Dependencies"
DESCRIPTION = (
    "Database and cache as the Todo API sees them: throughput, latency, errors, "
    "connection churn, unapplied migrations, cache efficiency, whether the cache is served "
    "without Redis, and how often the todo reads are answered from the response cache."
)
DB_BY = "alias, vendor"
DB_LEGEND = "{{alias}} ({{vendor}})"


def dependency_errors(dependency: str) -> str:
    """Errors per second talking to `dependency`; 0 rather than no data when there are none."""
    errors = sum_rate("todos_dependency_errors_total", f'dependency="{dependency}"')
    return f"{errors} or vector(0)"


def _errors_panel(dependency: str, description: str, width: int) -> timeseries.Panel:
    """Errors per second talking to `dependency`, red above 0."""
    return timeseries_panel(
        f"{dependency.capitalize()} errors",
        description,
        "ops",
        [Query(dependency_errors(dependency), f"{dependency} errors")],
        width=width,
        steps=[(None, GREEN), (0.001, RED)],
    )


def _database() -> Row:
    return Row(
        "Database",
        [
            timeseries_panel(
                "Database queries per second",
                "SQL statements executed per second by database alias. Bad: a jump without a "
                "matching rise in requests (an N+1 query slipped in) or a drop to 0 under load.",
                "ops",
                [Query(sum_rate("django_db_execute_total", by=DB_BY), DB_LEGEND)],
                width=8,
            ),
            timeseries_panel(
                "Database query latency p95",
                "95th percentile of SQL statement duration by database alias. Bad: above a few "
                "milliseconds for these simple queries (locks, missing index, saturated server).",
                "s",
                [
                    Query(
                        quantile(0.95, "django_db_query_duration_seconds_bucket", "alias"),
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
                        f"{sum_rate('django_db_execute_total')} / "
                        f"{sum_rate('django_http_requests_total_by_view_transport_method_total')}",
                        "queries / request",
                    )
                ],
                width=8,
            ),
            _errors_panel(
                "database",
                "Errors per second talking to the database (connection refused, timeouts, "
                "operational errors; 0 when healthy). Bad: above 0 (TodoApiDatabaseErrors).",
                width=9,
            ),
            timeseries_panel(
                "New database connections",
                "Database connections opened per second. Bad: close to the request rate: "
                "connections are not reused (CONN_MAX_AGE=0 costs about 5x throughput).",
                "ops",
                [Query(sum_rate("django_db_new_connections_total", by=DB_BY), DB_LEGEND)],
                width=9,
            ),
            stat_panel(
                "Unapplied migrations",
                "Migrations of the running code that the database has not applied, by database "
                "alias (django-prometheus' django_migrations_unapplied_total; each worker "
                "recounts every minute). Bad: above 0 (TodoApiMigrationsUnapplied): the migrate "
                "Job failed or did not run, so requests touching new tables or columns fail.",
                "short",
                [
                    Query(
                        f"max by (connection) (django_migrations_unapplied_total{sel()})",
                        "{{connection}}",
                    )
                ],
                width=6,
                height=8,
                steps=[(None, GREEN), (1, RED)],
                decimals=0,
                graph=False,
            ),
        ],
    )


def _cache() -> Row:
    hits = sum_rate("django_cache_get_hits_total", by="backend")
    misses = sum_rate("django_cache_get_misses_total", by="backend")
    gets = sum_rate("django_cache_get_total", by="backend")
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
            _errors_panel(
                "cache",
                "Errors per second talking to the cache (Redis unreachable, timeouts; 0 when "
                "healthy). Bad: anything above 0: requests fall back to the database or fail.",
                width=8,
            ),
            timeseries_panel(
                "Cache circuit open",
                "1 while workers of an instance serve without Redis (their circuit breaker "
                "open: Redis unreachable or timing out), by instance. Throttles then count per "
                "worker. Bad: 1 for more than a few minutes (TodoApiCacheDegraded).",
                "short",
                [Query(f"max by (instance) (todos_cache_degraded{sel()})", "{{instance}}")],
                maximum=1,
                decimals=0,
                steps=[(None, GREEN), (1, RED)],
            ),
            timeseries_panel(
                "Cache calls without Redis",
                "Cache calls per second answered without Redis while a circuit is open "
                "(throttle counters kept in the worker's memory, other reads missed, writes "
                "dropped), by instance. Bad: above 0: Redis is down for those instances.",
                "ops",
                [Query(sum_rate("todos_cache_bypassed_total", by="instance"), "{{instance}}")],
                steps=[(None, GREEN), (0.001, YELLOW)],
            ),
        ],
    )


def _response_cache() -> Row:
    reads = "todos_response_cache_requests_total"
    hits = sum_rate(reads, 'result="hit"', by="view")
    return Row(
        "Response cache",
        [
            timeseries_panel(
                "Response cache hit ratio",
                "Share of the cached todo reads (list, one todo) answered without reading a todo "
                "(a cached body or a 304), by view. Low when users write about as often as they "
                "read; 0 while Redis is down (bypass). Bad: a collapse under steady load "
                "(TodoApiResponseCacheHitRatioLow): cache evictions, a key change, Redis gone.",
                "percentunit",
                [Query(f"{hits} / {sum_rate(reads, by='view')}", "{{view}}")],
                maximum=1,
                steps=[(None, RED), (0.2, YELLOW), (0.5, GREEN)],
            ),
            timeseries_panel(
                "Response cache reads per second",
                "Cached todo reads per second by result: hit (a cached body or a 304), miss "
                "(rendered from the database, then stored), bypass (Redis unreachable). Bad: "
                "bypass above 0 (TodoApiCacheDegraded), misses rising while reads do not.",
                "ops",
                [Query(sum_rate(reads, by="result"), "{{result}}")],
                stacked=True,
            ),
        ],
    )


build = slo_free_build(UID, TITLE, DESCRIPTION, _database, _cache, _response_cache)
