"""Generate the SLO recording and burn-rate alerting rules from ``observability/slo.yaml``.

The SLO file is the one place the objectives live: the Locust gate reads it, and this module
turns it into ``observability/prometheus/rules/slo.yml`` (multiwindow, multi-burn-rate alerts
as in the Google SRE Workbook, chapter "Alerting on SLOs"). Run it with ``make generate`` (the
rules, then the dashboards and k8s manifests made from them) or ``make rules`` alone;
``--check`` (run by ``make lint`` and a test) fails when the committed file is stale.

    python -m observability.prometheus.slo_rules [--check]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from observability.slo import (
    Sli,
    Slo,
    duration_seconds,
    error_budget,
    load_slo,
)

RULES_FILE = Path(__file__).resolve().parent / "rules" / "slo.yml"


@dataclass(frozen=True)
class BurnWindow:
    """Alert when the error ratio exceeds ``factor`` x budget over both windows."""

    long: str
    short: str
    factor: float


@dataclass(frozen=True)
class BurnAlert:
    """One alert per SLO and severity, made of one or two burn windows."""

    suffix: str
    severity: str
    windows: tuple[BurnWindow, ...]
    summary: str


# The Workbook's recommended parameters for a 30-day window: 2% of the budget spent in 1 h or
# 5% in 6 h pages; 10% in 1 d or 100% in 3 d opens a ticket.
BURN_ALERTS = (
    BurnAlert(
        suffix="BudgetFastBurn",
        severity="page",
        windows=(BurnWindow("1h", "5m", 14.4), BurnWindow("6h", "30m", 6)),
        summary="burning its error budget fast (2% of 30 days' budget in 1 h, or 5% in 6 h)",
    ),
    BurnAlert(
        suffix="BudgetSlowBurn",
        severity="ticket",
        windows=(BurnWindow("1d", "2h", 3), BurnWindow("3d", "6h", 1)),
        summary="burning its error budget steadily (10% in 1 d, or all of it in 3 d)",
    ),
)


def sli_windows(slo: Slo) -> list[str]:
    """Every window a burn alert reads, shortest first, plus the SLO window itself."""
    windows = {
        w for alert in BURN_ALERTS for pair in alert.windows for w in (pair.long, pair.short)
    }
    return [*sorted(windows, key=duration_seconds), slo.window]


def sli_error_ratio_expr(sli: Sli, window: str) -> str:
    """PromQL for the share of bad events of ``sli`` over ``window``, from the raw series.

    No events in the window: no sample (the denominator is filtered by ``> 0``), rather than
    a NaN that the period SLI's ``sum_over_time`` would carry for the whole period.
    """
    total = f"sum(rate({sli.total}[{window}]))"
    if sli.bad is not None:
        # `or vector(0)`: no bad series yet means a ratio of 0, not an empty SLI
        bad = f"(sum(rate({sli.bad}[{window}])) or vector(0))"
        return f"{bad}\n/\n({total} > 0)"
    good = f"sum(rate({sli.good}[{window}]))"
    return f"(\n  {total}\n  -\n  {good}\n)\n/\n({total} > 0)"


def error_ratio_expr(slo: Slo, name: str, window: str) -> str:
    """PromQL for the share of bad events of SLO ``name`` over ``window``, from the raw series."""
    return sli_error_ratio_expr(slo.sli(name), window)


# The SLI window the period SLI averages: the shortest one, as Sloth's optimised period rule.
PERIOD_BASE_WINDOW = "5m"


def period_error_ratio_expr(slo: Slo, name: str) -> str:
    """PromQL for the share of bad events of SLO ``name`` over the SLO period (``30d``), in
    Sloth's optimised form: the recorded 5m ratios summed over the period, divided by how many
    there are.

    Each evaluation reads one recorded series instead of ``rate(...[30d])`` over every
    status x view x method series. The price, as Sloth documents: every 5m ratio weighs the
    same whatever its traffic (a bad quiet hour counts as much as a bad busy one), and minutes
    without requests do not count. The burn-rate alerts keep the exact, event-weighted ratios.
    """
    base = sli_error_series(slo, name, PERIOD_BASE_WINDOW)
    return f"sum_over_time({base}[{slo.window}])\n/\ncount_over_time({base}[{slo.window}])"


def recording_rules(slo: Slo) -> list[dict[str, Any]]:
    """SLI error ratios per window, the objectives, budgets and the budget remaining."""
    rules: list[dict[str, Any]] = []
    for sli in slo.slis():
        name, objective = sli.name, sli.objective
        labels = {"slo": name, "service": slo.service}
        for window in sli_windows(slo):
            period = window == slo.window
            rules.append(
                {
                    "record": sli_error_record(window),
                    "expr": (
                        period_error_ratio_expr(slo, name)
                        if period
                        else sli_error_ratio_expr(sli, window)
                    ),
                    "labels": labels,
                }
            )
        rules.append(
            {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": labels}
        )
        budget = error_budget(objective)
        rules.append(
            {"record": "slo:error_budget:ratio", "expr": f"vector({budget})", "labels": labels}
        )
        rules.append(
            {
                "record": "slo:error_budget_remaining:ratio",
                "expr": f"1 - {sli_error_series(slo, name, slo.window)} / {budget}",
                "labels": labels,
            }
        )
    return rules


def series_matchers(slo: Slo, name: str) -> str:
    """The label matchers of SLO ``name``'s recorded series."""
    return f'{{slo="{name}",service="{slo.service}"}}'


def sli_error_record(window: str) -> str:
    """The name of the recorded share of bad events over ``window``."""
    return f"slo:sli_error:ratio_rate{window}"


def sli_error_series(slo: Slo, name: str, window: str) -> str:
    """The recorded share of bad events of SLO ``name`` over ``window``, as a selector."""
    return sli_error_record(window) + series_matchers(slo, name)


def alert_name(name: str, suffix: str) -> str:
    """``TodoApiAvailabilityBudgetFastBurn`` from ``availability`` and ``BudgetFastBurn``
    (``TodoApiJobsLatencyBudgetFastBurn`` from ``jobs-latency``)."""
    return "TodoApi" + "".join(part.capitalize() for part in name.split("-")) + suffix


def _burn_condition(slo: Slo, name: str, budget: float, window: BurnWindow) -> str:
    threshold = f"({window.factor:g} * {budget:g})"
    long, short = (sli_error_series(slo, name, w) for w in (window.long, window.short))
    return f"(\n  {long} > {threshold}\n  and\n  {short} > {threshold}\n)"


def alerting_rules(slo: Slo) -> list[dict[str, Any]]:
    """One page and one ticket alert per SLO."""
    rules: list[dict[str, Any]] = []
    for sli in slo.slis():
        name, objective = sli.name, sli.objective
        budget = error_budget(objective)
        for alert in BURN_ALERTS:
            alertname = alert_name(name, alert.suffix)
            conditions = [_burn_condition(slo, name, budget, w) for w in alert.windows]
            windows = ", ".join(f"{w.factor:g}x over {w.long} and {w.short}" for w in alert.windows)
            rules.append(
                {
                    "alert": alertname,
                    "expr": "\nor\n".join(conditions),
                    "labels": {
                        "severity": alert.severity,
                        "slo": name,
                        "service": slo.service,
                        **({"component": sli.component} if sli.component else {}),
                    },
                    "annotations": {
                        "summary": f"{slo.service} {name} SLO is {alert.summary}",
                        "description": (
                            f"The share of {sli.bad_events} is "
                            "{{ $value | humanizePercentage }} over the alert's long window"
                            f", against a budget of {budget:.2%} "
                            f"({objective:.2%} objective over {slo.window}). Fires on {windows}."
                        ),
                        "runbook_url": slo.links.runbook(alertname),
                        "dashboard_url": slo.links.dashboard(sli.dashboard_uid),
                    },
                }
            )
    return rules


HEADER = """\
# GENERATED by observability/prometheus/slo_rules.py from observability/slo.yaml: do not edit.
# Regenerate with `make generate`; `make lint` and tests/observability/test_rules.py fail
# when this file is stale. Loaded by Prometheus (compose, tests/e2e) and, through the
# Kubernetes monitoring component, by the Prometheus Operator.
#
# SLI recording rules (slo:sli_error:ratio_rate<window>{slo, service}: share of bad events;
# the period's, 30d, averages the recorded 5m ratios as Sloth does) and multiwindow,
# multi-burn-rate alerts (Google SRE Workbook, "Alerting on SLOs").
"""


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line expressions, keys in insertion order, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_rules(document: Any) -> str:
    """A Prometheus rule file's YAML: block scalars for multi-line expressions, keys in the
    order given (also used by ``django_mixin_rules``)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)


def render(slo: Slo) -> str:
    """The rule file's text for ``slo``."""
    # One group: its rules run in order, so each alert reads the SLIs of the same evaluation
    # (across groups the order is not defined and an alert could read the previous round's).
    rules = recording_rules(slo) + alerting_rules(slo)
    document = {"groups": [{"name": f"{slo.service}-slo", "rules": rules}]}
    return HEADER + dump_rules(document)


def main(argv: list[str] | None = None) -> int:
    """Write rules/slo.yml, or with ``--check`` report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    arguments = parser.parse_args(argv)
    text = render(load_slo())
    if arguments.check:
        current = RULES_FILE.read_text(encoding="utf-8") if RULES_FILE.exists() else ""
        if current != text:
            sys.stderr.write(f"{RULES_FILE} is stale: run `make generate`\n")
            return 1
        return 0
    RULES_FILE.parent.mkdir(parents=True, exist_ok=True)
    RULES_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
