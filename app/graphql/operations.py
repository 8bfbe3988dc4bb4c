"""The operation names the metrics know by name (a bounded label set).

Clients name their operations freely; a metric labelled with every name sent would grow
without bound. These are the names the documented examples, the Locust users and the tests
send; any other named operation is counted as ``other``, an unnamed one as ``anonymous``, and a
request whose operation could not be determined (unparsable, refused before parsing) as
``unknown``.
"""

from __future__ import annotations

from typing import Final

QUERY: Final = "query"
MUTATION: Final = "mutation"
UNKNOWN: Final = "unknown"
ANONYMOUS: Final = "anonymous"
OTHER: Final = "other"

# name -> its operation type (every known name has one)
KNOWN_OPERATIONS: Final[dict[str, str]] = {
    "TodoList": QUERY,
    "Todo": QUERY,
    "CreateTodo": MUTATION,
    "UpdateTodo": MUTATION,
    "CompleteTodo": MUTATION,
    "DeleteTodo": MUTATION,
}
OPERATION_TYPES: Final = (QUERY, MUTATION, UNKNOWN)


def operation_label(name: str | None) -> str:
    """The ``operation_name`` label for an operation named ``name`` (None: unnamed)."""
    if name is None:
        return ANONYMOUS
    return name if name in KNOWN_OPERATIONS else OTHER
