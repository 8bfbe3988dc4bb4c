"""Todo API / Business: what users do with the API, and whether a fault is being injected."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from observability.slo import BUSINESS_DASHBOARD_UID

from .common import (
    GREEN,
    RED,
    Query,
    Row,
    sel,
    slo_free_build,
    stat_panel,
    sum_rate,
    timeseries_panel,
)

UID = BUSINESS_DASHBOARD_UID
TITLE = "Todo API / Business"
DESCRIPTION = (
    "Todo activity (created, completed, deleted), writes by model, and whether fault "
    "injection is on."
)


def _todo_panel(action: str, description: str) -> timeseries.Panel:
    """Todos per second counted by `todos_<action>_total`, over the selected instances."""
    return timeseries_panel(
        f"Todos {action}",
        description,
        "ops",
        [Query(sum_rate(f"todos_{action}_total"), action)],
        width=8,
    )


def _todos() -> Row:
    return Row(
        "Todos",
        [
            _todo_panel(
                "created",
                "Todos created per second (counted after the transaction commits). Bad: a drop "
                "to 0 while requests flow (writes failing) or a burst far above normal (abuse).",
            ),
            _todo_panel(
                "completed",
                "Todos marked completed per second. Bad: 0 for a long time while todos are "
                "created (the complete action is broken for clients).",
            ),
            _todo_panel(
                "deleted",
                "Todos deleted per second. Bad: a sudden surge (a misbehaving client or a "
                "compromised account deleting data).",
            ),
            timeseries_panel(
                "Model writes by model",
                "Rows inserted, updated and deleted per second by Django model. Bad: writes to "
                "a model no request should touch, or writes far above the todo activity.",
                "ops",
                [
                    Query(
                        sum_rate(f"django_model_{kind}_total", by="model"), f"{kind} {{{{model}}}}"
                    )
                    for kind in ("inserts", "updates", "deletes")
                ],
                width=24,
                height=7,
            ),
        ],
    )


def _faults() -> Row:
    # Both panels show the switch: error rate (A) and added latency (B, in seconds).
    switch_queries = [
        Query(f"max(todos_fault_error_rate{sel()})", "error rate"),
        Query(f"max(todos_fault_latency_seconds{sel()})", "added latency"),
    ]
    switch_steps = [(None, GREEN), (0.000001, RED)]  # red when on
    return Row(
        "Fault injection",
        [
            stat_panel(
                "Fault switch",
                "Injected faults now: share of requests answered 500 on purpose, and the latency "
                "added. Bad: anything but 0 outside a planned drill (TodoApiFaultInjectionActive); "
                "switch it off at /api/faults/.",
                "percentunit",
                switch_queries,
                width=8,
                height=7,
                graph=False,
                steps=switch_steps,
            ).override_by_query("B", [_unit("s")]),
            timeseries_panel(
                "Fault switch history",
                "When faults were injected: error rate (left axis) and added latency (right "
                "axis). Bad: a fault switched on that nobody announced.",
                "percentunit",
                switch_queries,
                width=16,
                height=7,
                steps=switch_steps,
            ).override_by_query(
                "B", [_unit("s"), DynamicConfigValue(id_val="custom.axisPlacement", value="right")]
            ),
        ],
    )


def _unit(unit: str) -> DynamicConfigValue:
    """A field override setting the unit (for a second query with another unit)."""
    return DynamicConfigValue(id_val="unit", value=unit)


build = slo_free_build(UID, TITLE, DESCRIPTION, _todos, _faults)
