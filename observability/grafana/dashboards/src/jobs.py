"""Todo API / Jobs: are exports finishing, fast enough, and is the Celery worker keeping up?

The background jobs (todo exports run as Celery tasks) seen from both sides: the API counts
exports requested (job `$job`); the worker's own metrics endpoint (job `$worker_job`, port
WORKER_METRICS_PORT) counts exports finished, their time from request to finish (with trace
exemplars), celery-exporter's task counters, the queue length and the workers. The jobs SLOs'
numbers come from the SLO file (``slo.yaml``, ``jobs:``) and their burn rates from the recorded
SLO series, as on the SLO dashboard.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from observability.prometheus.slo_rules import sli_error_series
from observability.slo import (
    JOBS_AVAILABILITY_METRIC,
    JOBS_DASHBOARD_UID,
    JOBS_LATENCY_METRIC,
    JobsSlo,
    Slo,
    SloError,
    duration_text,
)

from .common import (
    GREEN,
    RED,
    YELLOW,
    Query,
    Row,
    dashboard,
    quantile,
    stat_panel,
    state_timeline_panel,
    sum_rate,
    timeseries_panel,
    value_text,
    worker_sel,
)
from .slo import BUDGET_STEPS, BURN_STEPS, BURN_UNIT, burn_alerts_text, burn_rate, burn_windows
from .slo_values import percent, resolve

UID = JOBS_DASHBOARD_UID
TITLE = "Todo API / Jobs"
AVAILABILITY, LATENCY = "jobs-availability", "jobs-latency"  # the rules' `slo` labels
# Thresholds of the symptom alerts (observability/prometheus/rules/jobs.yml), drawn as lines.
BACKLOG_ALERT = 20
FAILURE_RATIO_ALERT = 0.05


def _jobs(slo: Slo) -> JobsSlo:
    if slo.jobs is None:
        raise SloError(f"{slo.source}: the jobs dashboard needs the `jobs:` SLOs")
    return slo.jobs


def threshold_text(jobs: JobsSlo) -> str:
    """The completion threshold for humans: "60 s"."""
    return f"{jobs.latency.threshold_seconds:g} s"


def _slos(slo: Slo) -> Row:
    jobs = _jobs(slo)
    sli_panels = [
        stat_panel(
            f"{title} SLI ({slo.window})",
            f"Share of {what} over the last {duration_text(slo.window)} (mean of the 5-minute "
            f"SLIs). Bad: red, below the {percent(objective)} objective "
            "(observability/slo.yaml, jobs).",
            "percentunit",
            [Query(f"1 - {sli_error_series(slo, name, slo.window)}", f"SLI {slo.window}")],
            width=6,
            decimals=3,
            steps=[(None, RED), (objective, GREEN)],
        )
        for title, name, what, objective in (
            ("Export success", AVAILABILITY, "finished exports that succeeded",
             jobs.availability.objective),
            ("Export latency", LATENCY,
             f"succeeded exports ready within {threshold_text(jobs)} of their request",
             jobs.latency.objective),
        )
    ]  # fmt: skip
    budget = stat_panel(
        "Jobs error budget remaining",
        "Share of the jobs SLOs' error budgets not yet spent (100% untouched, 0% exhausted, "
        "negative overspent). Bad: below 25%.",
        "percentunit",
        [
            Query(
                f'slo:error_budget_remaining:ratio{{slo=~"{AVAILABILITY}|{LATENCY}", '
                f'service="{slo.service}"}}',
                "{{slo}}",
            )
        ],
        width=12,
        decimals=1,
        steps=BUDGET_STEPS,
    )
    burn = [
        timeseries_panel(
            f"Burn rate by window ({name})",
            f"Error-budget burn rate of the {name} SLO over each alerting window (1x spends "
            f"the budget in exactly {duration_text(slo.window)}). Bad: "
            f"{burn_alerts_text(name)}.",
            BURN_UNIT,
            [Query(burn_rate(slo, name, window), window) for window in burn_windows(slo)],
            steps=BURN_STEPS,
        )
        for name in (AVAILABILITY, LATENCY)
    ]
    return Row("Jobs SLOs", [*sli_panels, budget, *burn])


def _throughput() -> Row:
    return Row(
        "Throughput",
        [
            timeseries_panel(
                "Exports requested by format",
                "Exports the API accepted per second (job `$job`, counted once the task is "
                "published). Bad: requests while nothing finishes (next panel).",
                "ops",
                [Query(sum_rate("todos_exports_requested_total", by="format"), "{{format}}")],
                width=8,
            ),
            timeseries_panel(
                "Exports finished by outcome",
                "Exports the worker finished per second, succeeded or failed, stacked. Bad: a "
                "failed band (the jobs-availability SLO), or 0 while exports are requested.",
                "ops",
                [
                    Query(
                        sum_rate(JOBS_AVAILABILITY_METRIC, by="outcome", worker=True),
                        "{{outcome}}",
                    )
                ],
                width=8,
                stacked=True,
            ),
            timeseries_panel(
                "Tasks started by task",
                "Celery task runs started per second by task (exports, beat's requeue and "
                "cleanup). Bad: 0 for a task that should run (beat stopped, worker stuck).",
                "ops",
                [Query(sum_rate("celery_task_started_total", by="name", worker=True), "{{name}}")],
                width=8,
            ),
        ],
    )


def _latency(slo: Slo) -> Row:
    jobs = _jobs(slo)
    threshold = jobs.latency.threshold_seconds
    bucket = f"{JOBS_LATENCY_METRIC}_bucket"
    le = f'le="{jobs.bucket_le()}"'
    within = (
        f"sum(rate({bucket}{worker_sel(le)}[$__rate_interval]))"
        f" / sum(rate({JOBS_LATENCY_METRIC}_count{worker_sel()}[$__rate_interval]))"
    )
    return Row(
        "Latency: request to finish",
        [
            timeseries_panel(
                "Export completion p50 / p95 / p99",
                "Time from an export's request to its file being ready (queue wait plus run), "
                "succeeded exports only; dots are exemplars linking to the run's trace. Bad: "
                f"p99 above the dashed {threshold_text(jobs)} line (the jobs-latency SLO).",
                "s",
                [
                    Query(quantile(q, bucket, worker=True), f"p{round(q * 100)}", exemplar=True)
                    for q in (0.5, 0.95, 0.99)
                ],
                width=12,
                steps=[(None, GREEN), (round(threshold * 2 / 3, 3), YELLOW), (threshold, RED)],
            ),
            timeseries_panel(
                f"Exports ready within {threshold_text(jobs)}",
                f"Share of succeeded exports ready within {threshold_text(jobs)} of their "
                f"request (what the jobs-latency SLI counts). Bad: below the "
                f"{percent(jobs.latency.objective)} line.",
                "percentunit",
                [Query(within, "within threshold")],
                width=6,
                steps=[(None, RED), (jobs.latency.objective, GREEN)],
                maximum=1,
            ),
            timeseries_panel(
                "Task runtime p95 by task",
                "95th percentile of each task's run time in the worker (without queue wait). "
                "Bad: growing towards EXPORT_TIME_LIMIT_SECONDS (runs get killed).",
                "s",
                [
                    Query(
                        quantile(0.95, "celery_task_runtime_bucket", "name", worker=True),
                        "{{name}}",
                    )
                ],
                width=6,
            ),
        ],
    )


def _backlog() -> Row:
    return Row(
        "Backlog and workers",
        [
            timeseries_panel(
                "Queue length",
                "Messages waiting in each broker queue (counted by the worker at scrape time). "
                f"Bad: above {BACKLOG_ALERT} and rising (TodoApiJobsBacklogGrowing): the "
                "workers do not keep up.",
                "short",
                [
                    Query(
                        f"sum by (queue_name) (celery_queue_length{worker_sel()})", "{{queue_name}}"
                    )
                ],
                width=10,
                steps=[(None, GREEN), (BACKLOG_ALERT, RED)],
            ),
            stat_panel(
                "Workers up",
                "Celery workers reporting themselves up. Bad: 0 (TodoApiJobsWorkerDown): "
                "exports stay pending.",
                "short",
                [Query(f"sum(celery_worker_up{worker_sel()})", "workers")],
                width=4,
                height=8,
                steps=[(None, RED), (1, GREEN)],
            ),
            timeseries_panel(
                "Tasks active per worker",
                "Tasks each worker is running now. Bad: pinned at the worker's concurrency "
                "(CELERY_WORKER_CONCURRENCY) while the queue grows.",
                "short",
                [
                    Query(
                        f"sum by (hostname) (celery_worker_tasks_active{worker_sel()})",
                        "{{hostname}}",
                    )
                ],
                width=10,
            ),
        ],
    )


def _failures() -> Row:
    failed = sum_rate("celery_task_failed_total", by="name", worker=True)
    succeeded = sum_rate("celery_task_succeeded_total", by="name", worker=True)
    alerts = 'ALERTS{alertname=~"TodoApiJobs.*", job=~"$worker_job|"}'
    return Row(
        "Failures and alerts",
        [
            timeseries_panel(
                "Failures by task",
                "Failed task runs per second by task and exception (retries are not failures). "
                "Bad: any sustained line; the worker's task_run log lines and the traces say "
                "why.",
                "ops",
                [
                    Query(
                        sum_rate("celery_task_failed_total", by="name, exception", worker=True),
                        "{{name}} {{exception}}",
                    )
                ],
                width=12,
                bars=True,
            ),
            timeseries_panel(
                "Failure ratio by task",
                "Share of each task's finished runs that failed. Bad: above the dashed "
                f"{percent(FAILURE_RATIO_ALERT)} line (TodoApiJobsFailureRatioHigh).",
                "percentunit",
                [Query(f"{failed} / ({failed} + {succeeded})", "{{name}}")],
                width=12,
                steps=[(None, GREEN), (FAILURE_RATIO_ALERT, RED)],
                maximum=1,
            ),
            state_timeline_panel(
                "Jobs alerts",
                "When each TodoApiJobs* alert (burn rates, worker down, backlog, failure ratio) "
                "was pending or firing. Bad: any red lane; '(none)' green means none was active.",
                "none",
                [
                    Query(
                        f"{alerts} or on () "
                        'label_replace(vector(0), "alertname", "(none)", "", "")',
                        "{{alertname}} {{alertstate}}",
                    )
                ],
                height=7,
                steps=[(None, GREEN), (1, RED)],
                mappings=value_text({"0": ("inactive", GREEN), "1": ("active", RED)}),
            ),
        ],
    )


def build(slo: Slo | None = None) -> Dashboard:
    """The jobs dashboard: jobs SLOs, throughput, latency, backlog, workers and failures.

    `slo`: the objectives to show (default: the SLO file's; it must declare `jobs:`).
    """
    slo = resolve(slo)
    jobs = _jobs(slo)
    return dashboard(
        UID,
        TITLE,
        f"Todo exports as Celery jobs: {percent(jobs.availability.objective)} succeed and "
        f"{percent(jobs.latency.objective)} are ready within {threshold_text(jobs)} of their "
        f"request over {duration_text(slo.window)}; throughput, request-to-finish latency "
        "with trace exemplars, backlog, workers and failures by task.",
        [_slos(slo), _throughput(), _latency(slo), _backlog(), _failures()],
        worker=True,
    )
