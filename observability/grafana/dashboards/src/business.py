"""Todo API / Business: what users do with the API, and whether a fault is being injected."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard, DynamicConfigValue

from loadtests.slo import Slo

from .common import GREEN, RED, Query, Row, dashboard, sel, stat_panel, timeseries_panel

UID = "todo-api-business"
TITLE = "Todo API / Business"
RATE = "[$__rate_interval]"


def todo_rate(counter: str) -> str:
    """Todos per second counted by `counter`, over the selected instances."""
    return f"sum(rate({counter}{sel()}{RATE}))"


def _todos() -> Row:
    return Row(
        "Todos",
        [
            timeseries_panel(
                "Todos created",
                "Todos created per second (counted after the transaction commits). Bad: a drop "
                "to 0 while requests flow (writes failing) or a burst far above normal (abuse).",
                "ops",
                [Query(todo_rate("todos_created_total"), "created")],
                width=8,
            ),
            timeseries_panel(
                "Todos completed",
                "Todos marked completed per second. Bad: 0 for a long time while todos are "
                "created (the complete action is broken for clients).",
                "ops",
                [Query(todo_rate("todos_completed_total"), "completed")],
                width=8,
            ),
            timeseries_panel(
                "Todos deleted",
                "Todos deleted per second. Bad: a sudden surge (a misbehaving client or a "
                "compromised account deleting data).",
                "ops",
                [Query(todo_rate("todos_deleted_total"), "deleted")],
                width=8,
            ),
            timeseries_panel(
                "Model writes by model",
                "Rows inserted, updated and deleted per second by Django model. Bad: writes to "
                "a model no request should touch, or writes far above the todo activity.",
                "ops",
                [
                    Query(
                        f"sum by (model) (rate(django_model_{kind}_total{sel()}{RATE}))",
                        f"{kind} {{{{model}}}}",
                    )
                    for kind in ("inserts", "updates", "deletes")
                ],
                width=24,
                height=7,
            ),
        ],
    )


def _faults() -> Row:
    error_rate = f"max(todos_fault_error_rate{sel()})"
    latency = f"max(todos_fault_latency_seconds{sel()})"
    return Row(
        "Fault injection",
        [
            stat_panel(
                "Fault switch",
                "Injected faults now: share of requests answered 500 on purpose, and the latency "
                "added. Bad: anything but 0 outside a planned drill (TodoApiFaultInjectionActive); "
                "switch it off at /api/faults/.",
                "percentunit",
                [Query(error_rate, "error rate"), Query(latency, "added latency")],
                width=8,
                height=7,
                graph=False,
                steps=[(None, GREEN), (0.000001, RED)],
            ).override_by_query("B", [_unit("s")]),
            timeseries_panel(
                "Fault switch history",
                "When faults were injected: error rate (left axis) and added latency (right "
                "axis). Bad: a fault switched on that nobody announced.",
                "percentunit",
                [Query(error_rate, "error rate"), Query(latency, "added latency")],
                width=16,
                height=7,
                steps=[(None, GREEN), (0.000001, RED)],
            ).override_by_query(
                "B", [_unit("s"), DynamicConfigValue(id_val="custom.axisPlacement", value="right")]
            ),
        ],
    )


def _unit(unit: str) -> DynamicConfigValue:
    """A field override setting the unit (for a second query with another unit)."""
    return DynamicConfigValue(id_val="unit", value=unit)


def build(slo: Slo | None = None) -> Dashboard:
    """The business dashboard: todo activity and the fault-injection switch.

    Shows no SLO numbers: `slo` is accepted (and ignored) so every dashboard builds alike.
    """
    return dashboard(
        UID,
        TITLE,
        "Todo activity (created, completed, deleted), writes by model, and whether fault "
        "injection is on.",
        [_todos(), _faults()],
    )
