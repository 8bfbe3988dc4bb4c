"""Todo API / Runtime: are the gunicorn processes healthy, and does telemetry get out?

Process metrics come from the gunicorn master's collector, one series per process labelled
`pid` and `role` (master | worker).
"""

from __future__ import annotations

from observability.slo import RUNTIME_DASHBOARD_UID

from .common import (
    GREEN,
    ORANGE,
    RATE,
    RED,
    Query,
    Row,
    sel,
    slo_free_build,
    sum_rate,
    timeseries_panel,
)

UID = RUNTIME_DASHBOARD_UID
TITLE = "Todo API / Runtime"
DESCRIPTION = (
    "Gunicorn master and workers: CPU, memory, file descriptors, worker churn and the "
    "health of the trace export pipeline."
)
PROCESS = "{{instance}} {{role}} {{pid}}"


def _processes() -> Row:
    return Row(
        "Processes",
        [
            timeseries_panel(
                "CPU per process",
                "CPU time used per second by each gunicorn process (100% = one full core). Bad: "
                "workers pinned near 100% (CPU-bound, requests queue) or a busy master.",
                "percentunit",
                [Query(f"rate(process_cpu_seconds_total{sel()}{RATE})", PROCESS)],
                steps=[(None, GREEN), (0.8, ORANGE), (0.95, RED)],
            ),
            timeseries_panel(
                "Resident memory per process",
                "Resident set size of each gunicorn process. Bad: a worker growing steadily "
                "without levelling off (a leak) until it is killed by the OOM killer.",
                "bytes",
                [Query(f"process_resident_memory_bytes{sel()}", PROCESS)],
            ),
            timeseries_panel(
                "Open file descriptors",
                "File descriptors (sockets, files) open in each process. Bad: climbing steadily "
                "(a descriptor leak) toward the limit shown in the next panel.",
                "short",
                [Query(f"process_open_fds{sel()}", PROCESS)],
                width=8,
            ),
            timeseries_panel(
                "File descriptors used of limit",
                "Open descriptors as a share of each process's limit. Bad: above 80%: accept() and "
                "connect() will soon fail with 'too many open files'.",
                "percentunit",
                [Query(f"process_open_fds{sel()} / process_max_fds{sel()}", PROCESS)],
                width=8,
                maximum=1,
                steps=[(None, GREEN), (0.8, ORANGE), (0.9, RED)],
            ),
            timeseries_panel(
                "Process uptime",
                "Time since each process started. Bad: worker uptimes resetting again and again "
                "(crash loop) or the master restarting (the whole server restarted).",
                "s",
                [Query(f"time() - process_start_time_seconds{sel()}", PROCESS)],
                width=8,
            ),
        ],
    )


def _gunicorn() -> Row:
    return Row(
        "Gunicorn and telemetry",
        [
            timeseries_panel(
                "Gunicorn workers alive",
                "Worker processes alive per instance, as the master sees them. Bad: fewer than "
                "configured (WEB_CONCURRENCY) for more than a moment, or 0.",
                "short",
                [Query(f"sum by (instance) (todos_gunicorn_workers{sel()})", "{{instance}}")],
                width=8,
                steps=[(None, RED), (1, GREEN)],
            ),
            timeseries_panel(
                "Worker exits",
                "Worker processes that exited (crashed, timed out or were killed) per interval. "
                "Bad: any steady stream of exits (TodoApiWorkersCrashing).",
                "short",
                [
                    Query(
                        "sum by (instance) "
                        f"(increase(todos_gunicorn_worker_exits_total{sel()}{RATE}))",
                        "{{instance}}",
                    )
                ],
                width=8,
                bars=True,
                steps=[(None, GREEN), (1, RED)],
            ),
            timeseries_panel(
                "Spans exported / dropped",
                "Trace spans per second accepted by the OTLP endpoint, and spans dropped by "
                "reason (queue_full, export_failed, shutdown: still queued when a worker "
                "exited). Bad: any drops (TodoApiSpansDropped): traces go missing; "
                "export_failed means the collector is unreachable.",
                "ops",
                [
                    Query(sum_rate("todos_otel_spans_exported_total"), "exported"),
                    Query(
                        sum_rate("todos_otel_spans_dropped_total", by="reason"),
                        "dropped {{reason}}",
                    ),
                ],
                width=8,
            ),
        ],
    )


build = slo_free_build(UID, TITLE, DESCRIPTION, _processes, _gunicorn)
