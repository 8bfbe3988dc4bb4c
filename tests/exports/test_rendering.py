"""The CSV and JSON formats."""

from __future__ import annotations

import csv
import io
import json

from django.contrib.auth.models import User

from app.exports import rendering
from tests.factories import TodoFactory


def test_csv_quotes_cells_a_spreadsheet_would_run_as_formulas(alice: User) -> None:
    todos = [TodoFactory.create(owner=alice, title=title) for title in ("=SUM(A1)", "@x", "ok")]
    out = io.StringIO()

    assert rendering.write_csv(todos, out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["title"] for row in rows] == ["'=SUM(A1)", "'@x", "ok"]
    assert list(rows[0]) == rendering.FIELDS


def test_json_is_an_array_of_todos_even_when_empty(alice: User) -> None:
    todo = TodoFactory.create(owner=alice, title="=kept as is", completed=True)
    out, empty = io.StringIO(), io.StringIO()

    rendering.write_json([todo], out)
    rendering.write_json([], empty)

    assert json.loads(out.getvalue()) == [
        {
            "id": todo.id,
            "title": "=kept as is",
            "completed": True,
            "created_at": todo.created_at.isoformat(),
            "updated_at": todo.updated_at.isoformat(),
        }
    ]
    assert json.loads(empty.getvalue()) == []
