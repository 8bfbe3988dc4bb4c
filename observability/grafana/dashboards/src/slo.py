"""Todo API / SLO: are we meeting the objectives, how fast is the error budget burning?

Reads the recorded SLO series (observability/prometheus/rules/): they are pre-computed over
fixed windows and carry `slo` and `service` labels but no `instance`, so the `$instance`
variable does not apply here (only the alerts lane filters by `$job`).
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from .common import (
    GREEN,
    ORANGE,
    RED,
    YELLOW,
    Query,
    Row,
    dashboard,
    stat_panel,
    state_timeline_panel,
    timeseries_panel,
    value_text,
)

UID = "todo-api-slo"
TITLE = "Todo API / SLO"
SERVICE = "todo-api"
OBJECTIVES = {"availability": 0.999, "latency": 0.99}  # observability/slo.yaml
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# The burn-rate alerts' factors (observability/prometheus/rules/slo.yml, after the Google SRE
# workbook): 14.4 and 6 page, 3 and 1 open a ticket; 1 spends the budget in exactly 30 days.
BURN_STEPS = [(None, GREEN), (1, YELLOW), (3, ORANGE), (6, "dark-orange"), (14.4, RED)]
BURN_UNIT = "suffix:x"


def slo_selector(slo: str) -> str:
    """Matchers of one SLO's recorded series."""
    return f'{{slo="{slo}", service="{SERVICE}"}}'


def sli_error(slo: str, window: str) -> str:
    """The recorded share of bad events of `slo` over `window`."""
    return f"slo:sli_error:ratio_rate{window}{slo_selector(slo)}"


def burn_rate(slo: str, window: str) -> str:
    """How many times faster than allowed the budget burns over `window` (1 = exactly on budget)."""
    return f"{sli_error(slo, window)} / on (slo, service) slo:error_budget:ratio{slo_selector(slo)}"


def _objectives() -> Row:
    panels = []
    for slo, what in (
        ("availability", "requests not answered with a 5xx status"),
        ("latency", "requests answered within 300 ms"),
    ):
        objective = OBJECTIVES[slo]
        panels += [
            stat_panel(
                f"{slo.capitalize()} objective",
                f"Target share of {what} over a rolling 30 days (observability/slo.yaml). "
                "Informational; bad would be it differing from the agreed SLO.",
                "percentunit",
                [Query(f"slo:objective:ratio{slo_selector(slo)}", "objective", instant=True)],
                width=4,
                decimals=1,
                graph=False,
                steps=[(None, "text")],
            ),
            stat_panel(
                f"{slo.capitalize()} SLI (30d)",
                f"Share of {what} over the last 30 days. Bad: red, below the "
                f"{objective:.1%} objective: the SLO is violated.",
                "percentunit",
                [Query(f"1 - {sli_error(slo, '30d')}", "SLI 30d")],
                width=4,
                decimals=3,
                steps=[(None, RED), (objective, GREEN)],
            ),
        ]
    panels.append(
        stat_panel(
            "Error budget remaining",
            "Share of the 30-day error budget not yet spent, per SLO (100% = untouched, "
            "0% = exhausted, negative = overspent). Bad: below 25%; below 0 freeze risky releases.",
            "percentunit",
            [
                Query(
                    "slo:error_budget_remaining:ratio"
                    f'{{slo=~"availability|latency", service="{SERVICE}"}}',
                    "{{slo}}",
                )
            ],
            width=8,
            decimals=1,
            steps=[(None, RED), (0, ORANGE), (0.25, YELLOW), (0.5, GREEN)],
        )
    )
    return Row("Objectives and error budget", panels)


def _burn_rates() -> Row:
    panels = [
        timeseries_panel(
            f"Burn rate by window ({slo})",
            f"Error-budget burn rate of the {slo} SLO over each alerting window (1x spends the "
            "budget in exactly 30 days). Bad: 1h and 5m above 14.4x, or 6h and 30m above 6x "
            f"(TodoApi{slo.capitalize()}BudgetFastBurn, pages); 1d and 2h above 3x, or 3d and "
            f"6h above 1x (TodoApi{slo.capitalize()}BudgetSlowBurn, ticket).",
            BURN_UNIT,
            [Query(burn_rate(slo, window), window) for window in BURN_WINDOWS],
            steps=BURN_STEPS,
            height=9,
        )
        for slo in ("availability", "latency")
    ]
    panels.append(
        timeseries_panel(
            "Error budget remaining over time",
            "The 30-day error budget left per SLO, over time. Bad: a steep downward slope "
            "(fast burn) or the line crossing 0 (budget exhausted).",
            "percentunit",
            [
                Query(f"slo:error_budget_remaining:ratio{slo_selector(slo)}", slo)
                for slo in ("availability", "latency")
            ],
            width=24,
            height=7,
            minimum=None,
            steps=[(None, RED), (0, ORANGE), (0.25, YELLOW), (0.5, GREEN)],
        )
    )
    return Row("Burn rate", panels)


def _short_windows() -> Row:
    return Row(
        "Recent bad-event ratio",
        [
            timeseries_panel(
                f"{slo.capitalize()}: bad-event ratio (5m / 1h)",
                f"Share of {what} over the last 5 minutes and hour, against the dashed budget "
                f"line ({1 - OBJECTIVES[slo]:.1%}). Bad: staying above the line spends budget "
                "faster than the SLO allows.",
                "percentunit",
                [Query(sli_error(slo, window), window) for window in ("5m", "1h")],
                steps=[(None, GREEN), (round(1 - OBJECTIVES[slo], 6), RED)],
            )
            for slo, what in (
                ("availability", "5xx responses"),
                ("latency", "requests slower than 300 ms"),
            )
        ],
    )


def _alerts() -> Row:
    alerts = 'ALERTS{alertname=~"TodoApi.*", job=~"$job|"}'
    return Row(
        "Alerts",
        [
            stat_panel(
                "Firing alerts",
                "TodoApi* alerts firing now (alerts with no job label, such as the SLO burn-rate "
                "alerts, count too). Bad: anything above 0; open the runbook linked by the alert.",
                "none",
                [
                    Query(
                        'count(ALERTS{alertname=~"TodoApi.*", alertstate="firing", job=~"$job|"}) '
                        "or vector(0)",
                        "firing",
                    )
                ],
                width=4,
                height=8,
                graph=False,
                steps=[(None, GREEN), (1, RED)],
            ),
            state_timeline_panel(
                "SLO alerts",
                "When each TodoApi* alert was pending or firing (burn-rate, target, traffic, "
                "dependency, worker and fault alerts). Bad: any red lane; '(none)' green means "
                "no TodoApi alert was active.",
                "none",
                [
                    Query(
                        f"{alerts} or on () "
                        'label_replace(vector(0), "alertname", "(none)", "", "")',
                        "{{alertname}} {{alertstate}}",
                    )
                ],
                width=20,
                height=8,
                steps=[(None, GREEN), (1, RED)],
                mappings=value_text({"0": ("inactive", GREEN), "1": ("active", RED)}),
            ),
        ],
    )


def build() -> Dashboard:
    """The SLO dashboard: SLIs, objectives, error budget, burn rates and SLO alerts."""
    return dashboard(
        UID,
        TITLE,
        "Availability (99.9% non-5xx) and latency (99% within 300 ms) SLOs over 30 days: "
        "SLIs, error budget and multiwindow burn rates, from the recorded SLO rules.",
        [_objectives(), _burn_rates(), _short_windows(), _alerts()],
    )
