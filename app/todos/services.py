"""Writes to todos: the only place todos are created, changed or deleted."""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from app import whitespace
from app.todos import metrics
from app.todos.models import Todo

UPDATABLE_FIELDS = frozenset({"title", "completed"})


@transaction.atomic
def todo_create(*, owner: User, title: str, completed: bool = False) -> Todo:
    """Create a todo for ``owner``; the title is trimmed (``app.whitespace``) and must not
    end up empty."""
    todo = Todo(owner=owner, title=whitespace.strip(title), completed=completed)
    _validate(todo)
    todo.save()
    transaction.on_commit(metrics.todos_created.inc)
    if completed:
        transaction.on_commit(metrics.todos_completed.inc)
    return todo


@transaction.atomic
def todo_update(*, todo: Todo, data: dict[str, Any]) -> Todo:
    """Change the given fields (``title``, ``completed``) of ``todo``; others are refused."""
    unknown = set(data) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"todo_update cannot change {sorted(unknown)}")
    if "title" in data:
        data = {**data, "title": whitespace.strip(data["title"])}
    changed = [field for field, value in data.items() if getattr(todo, field) != value]
    if not changed:
        return todo
    for field in changed:
        setattr(todo, field, data[field])
    _validate(todo)
    todo.save(update_fields=[*changed, "updated_at"])
    if "completed" in changed and todo.completed:
        transaction.on_commit(metrics.todos_completed.inc)
    return todo


@transaction.atomic
def todo_delete(*, todo: Todo) -> None:
    """Delete ``todo``."""
    todo.delete()
    transaction.on_commit(metrics.todos_deleted.inc)


def _validate(todo: Todo) -> None:
    """Check field rules in Python (blank, length); the owner and the DB check are trusted."""
    todo.full_clean(exclude=["owner"], validate_unique=False, validate_constraints=False)
