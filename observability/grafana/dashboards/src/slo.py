"""Todo API / SLO: are we meeting the objectives, how fast is the error budget burning?

Reads the recorded SLO series (observability/prometheus/rules/): they are pre-computed over
fixed windows and carry `slo` and `service` labels but no `instance`, so the `$instance`
variable does not apply here (only the alerts lane filters by `$job`). The objectives, the
latency threshold and the window come from the SLO file, the burn-rate windows and factors from
the rules' generator (observability/prometheus/slo_rules.py), so neither is repeated here.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from observability.prometheus.slo_rules import (
    BURN_ALERTS,
    alert_name,
    series_matchers,
    sli_error_series,
    sli_windows,
)
from observability.slo import (
    SLO_DASHBOARD_UID,
    Slo,
    duration_adjective,
    duration_text,
)

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
from .slo_values import percent, resolve, threshold_text

UID = SLO_DASHBOARD_UID
TITLE = "Todo API / SLO"
NAMES = ("availability", "latency")  # the SLOs, as the rules' `slo` label names them
# The burn-rate alerts' factors (slo_rules.BURN_ALERTS, after the Google SRE workbook: 14.4 and
# 6 page, 3 and 1 open a ticket; 1 spends the budget in exactly the SLO window), slowest first,
# each coloured by how urgent its alert is.
BURN_FACTORS = sorted({window.factor for alert in BURN_ALERTS for window in alert.windows})
BURN_STEPS = [(None, GREEN), *zip(BURN_FACTORS, (YELLOW, ORANGE, "dark-orange", RED), strict=True)]
BURN_UNIT = "suffix:x"
# Error budget left: red when overspent, orange below 25%, yellow below 50%.
BUDGET_STEPS = [(None, RED), (0, ORANGE), (0.25, YELLOW), (0.5, GREEN)]
SEVERITY_TEXT = {"page": "pages"}  # how a burn alert's severity reads in a description


def burn_windows(slo: Slo) -> list[str]:
    """Every window a burn-rate alert reads, shortest first (recorded by the SLO rules)."""
    return sli_windows(slo)[:-1]  # sli_windows ends with the SLO window itself


def burn_rate(slo: Slo, name: str, window: str) -> str:
    """How many times faster than allowed the budget burns over `window` (1 = exactly on budget)."""
    return (
        f"{sli_error_series(slo, name, window)} / on (slo, service) "
        f"slo:error_budget:ratio{series_matchers(slo, name)}"
    )


def burn_alerts_text(name: str) -> str:
    """When SLO `name`'s burn-rate alerts fire, for a panel description."""
    parts = []
    for alert in BURN_ALERTS:
        windows = ", or ".join(f"{w.long} and {w.short} above {w.factor:g}x" for w in alert.windows)
        severity = SEVERITY_TEXT.get(alert.severity, alert.severity)
        parts.append(f"{windows} ({alert_name(name, alert.suffix)}, {severity})")
    return "; ".join(parts)


def _objectives(slo: Slo) -> Row:
    panels = []
    for name, what in (
        ("availability", "requests not answered with a 5xx status"),
        ("latency", f"requests answered within {threshold_text(slo)}"),
    ):
        objective = slo.objectives()[name]
        objective_series = f"slo:objective:ratio{series_matchers(slo, name)}"
        panels += [
            stat_panel(
                f"{name.capitalize()} objective",
                f"Target share of {what} over a rolling {duration_text(slo.window)} "
                "(observability/slo.yaml). Informational; bad would be it differing from the "
                "agreed SLO.",
                "percentunit",
                [Query(objective_series, "objective", instant=True)],
                width=4,
                decimals=1,
                graph=False,
                steps=[(None, "text")],
            ),
            stat_panel(
                f"{name.capitalize()} SLI ({slo.window})",
                f"Share of {what} over the last {duration_text(slo.window)}: the mean of the "
                "5-minute SLIs (each 5 minutes with traffic weighs the same). Bad: red, below the "
                f"{objective:.1%} objective: the SLO is violated.",
                "percentunit",
                [Query(f"1 - {sli_error_series(slo, name, slo.window)}", f"SLI {slo.window}")],
                width=4,
                decimals=3,
                steps=[(None, RED), (objective, GREEN)],
            ),
        ]
    panels.append(
        stat_panel(
            "Error budget remaining",
            f"Share of the {duration_adjective(slo.window)} error budget not yet spent, per SLO "
            "(100% = untouched, 0% = exhausted, negative = overspent). Bad: below 25%; below 0 "
            "freeze risky releases.",
            "percentunit",
            [
                Query(
                    "slo:error_budget_remaining:ratio"
                    f'{{slo=~"{"|".join(NAMES)}", service="{slo.service}"}}',
                    "{{slo}}",
                )
            ],
            width=8,
            decimals=1,
            steps=BUDGET_STEPS,
        )
    )
    return Row("Objectives and error budget", panels)


def _burn_rates(slo: Slo) -> Row:
    panels = [
        timeseries_panel(
            f"Burn rate by window ({name})",
            f"Error-budget burn rate of the {name} SLO over each alerting window (1x spends the "
            f"budget in exactly {duration_text(slo.window)}). Bad: {burn_alerts_text(name)}.",
            BURN_UNIT,
            [Query(burn_rate(slo, name, window), window) for window in burn_windows(slo)],
            steps=BURN_STEPS,
            height=9,
        )
        for name in NAMES
    ]
    panels.append(
        timeseries_panel(
            "Error budget remaining over time",
            f"The {duration_adjective(slo.window)} error budget left per SLO, over time. Bad: a "
            "steep downward slope (fast burn) or the line crossing 0 (budget exhausted).",
            "percentunit",
            [
                Query(f"slo:error_budget_remaining:ratio{series_matchers(slo, name)}", name)
                for name in NAMES
            ],
            width=24,
            height=7,
            minimum=None,
            steps=BUDGET_STEPS,
        )
    )
    return Row("Burn rate", panels)


def _short_windows(slo: Slo) -> Row:
    return Row(
        "Recent bad-event ratio",
        [
            timeseries_panel(
                f"{name.capitalize()}: bad-event ratio (5m / 1h)",
                f"Share of {what} over the last 5 minutes and hour, against the dashed budget "
                f"line ({slo.error_budget(name):.1%}). Bad: staying above the line spends "
                "budget faster than the SLO allows.",
                "percentunit",
                [Query(sli_error_series(slo, name, window), window) for window in ("5m", "1h")],
                steps=[(None, GREEN), (slo.error_budget(name), RED)],
            )
            for name, what in (
                ("availability", "5xx responses"),
                ("latency", f"requests slower than {threshold_text(slo)}"),
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


def build(slo: Slo | None = None) -> Dashboard:
    """The SLO dashboard: SLIs, objectives, error budget, burn rates and SLO alerts.

    `slo`: the objectives to show (default: the SLO file's).
    """
    slo = resolve(slo)
    return dashboard(
        UID,
        TITLE,
        f"Availability ({percent(slo.availability.objective)} non-5xx) and latency "
        f"({percent(slo.latency.objective)} within {threshold_text(slo)}) SLOs over "
        f"{duration_text(slo.window)}: SLIs, error budget and multiwindow burn rates, from the "
        "recorded SLO rules.",
        [_objectives(slo), _burn_rates(slo), _short_windows(slo), _alerts()],
    )
