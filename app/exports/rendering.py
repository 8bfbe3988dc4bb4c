"""The export formats: todos as CSV or JSON, written to an open text file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any

from app.todos.models import Todo

FIELDS = ["id", "title", "completed", "created_at", "updated_at"]
# Spreadsheets run a cell starting with these as a formula (CSV injection): quote it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _row(todo: Todo) -> dict[str, Any]:
    return {
        "id": todo.id,
        "title": todo.title,
        "completed": todo.completed,
        "created_at": todo.created_at.isoformat(),
        "updated_at": todo.updated_at.isoformat(),
    }


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(todos: Iterable[Todo], out: IO[str]) -> int:
    """Write a header and one row per todo; return the number of todos."""
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    count = 0
    for todo in todos:
        writer.writerow({key: _safe_cell(value) for key, value in _row(todo).items()})
        count += 1
    return count


def write_json(todos: Iterable[Todo], out: IO[str]) -> int:
    """Write a JSON array of todos, one object each; return the number of todos."""
    count = 0
    out.write("[")
    for todo in todos:
        out.write(("," if count else "") + "\n" + json.dumps(_row(todo), ensure_ascii=False))
        count += 1
    out.write("\n]\n")
    return count
