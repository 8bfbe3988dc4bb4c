"""The GraphQL fault targets: resolvers fail on purpose, inside the operation.

With ``graphql:<OperationName>`` (or ``graphql:*``, every operation; never implied by ``*``)
among the fault switch's routes, the root resolvers of matching operations wait the switch's
latency and raise ``InjectedFaultError`` at its ``error_rate``. The error happens where a real
bug would: inside the resolver, so the HTTP status stays 200 and only the response's
``INTERNAL_SERVER_ERROR`` (and the GraphQL SLI, ``todos_graphql_operations_total
{outcome="server_error"}``) tells: what the GraphQL availability alerts must see.
"""

from __future__ import annotations

from app.faults import middleware as faults
from app.faults.config import GRAPHQL_TARGET_PREFIX, FaultConfig
from app.faults.state import state

ALL_OPERATIONS = f"{GRAPHQL_TARGET_PREFIX}*"


def targets(config: FaultConfig, operation_name: str | None) -> bool:
    """True when ``config`` targets the GraphQL operation named ``operation_name``."""
    if ALL_OPERATIONS in config.routes:
        return True
    return (
        operation_name is not None and f"{GRAPHQL_TARGET_PREFIX}{operation_name}" in config.routes
    )


def inject(operation_name: str | None) -> None:
    """Delay or fail this resolver when the switch targets its operation."""
    config = state.current()
    if not config.active or not targets(config, operation_name):
        return
    faults.inject(config, f"in GraphQL operation {operation_name}")
