"""Writes to todos: the only place todos are created, changed or deleted.

Each write also raises the owner's ``TodoVersion`` in its transaction, so cached reads
(``app.todos.response_cache``) never outlive it.
"""

import time
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from app import whitespace
from app.todos import metrics
from app.todos.models import Todo, TodoVersion

UPDATABLE_FIELDS = frozenset({"title", "completed"})


@transaction.atomic
def todo_create(*, owner: User, title: str, completed: bool = False) -> Todo:
    """Create a todo for ``owner``; the title is trimmed (``app.whitespace``) and must not
    end up empty."""
    todo = Todo(owner=owner, title=whitespace.strip(title), completed=completed)
    _validate(todo)
    todo.save()
    todos_changed(owner_ids=[owner.pk])
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
    todos_changed(owner_ids=[todo.owner_id])
    if "completed" in changed and todo.completed:
        transaction.on_commit(metrics.todos_completed.inc)
    return todo


@transaction.atomic
def todo_delete(*, todo: Todo) -> None:
    """Delete ``todo``."""
    owner_id = todo.owner_id
    todo.delete()
    todos_changed(owner_ids=[owner_id])
    transaction.on_commit(metrics.todos_deleted.inc)


# No savepoint: inside a write's transaction (every caller's case) a failure here fails the
# whole write, so a savepoint would only add two statements (SAVEPOINT, RELEASE) to each.
@transaction.atomic(savepoint=False)
def todos_changed(*, owner_ids: Iterable[int]) -> None:
    """Raise the version of each owner's todos (after any write to them, the admin's too).

    The new value is the old one plus one, or the time in microseconds when that is higher, so
    a version never repeats one issued before, even after the database is restored from an
    older backup. One ``UPDATE`` per owner once its row exists (the first write creates it).
    """
    for owner_id in sorted(set(owner_ids)):  # one lock order: concurrent writers never deadlock
        now_us = time.time_ns() // 1000
        if _raise_version(owner_id, now_us):
            continue
        _, created = TodoVersion.objects.get_or_create(
            owner_id=owner_id, defaults={"value": now_us}
        )
        if not created:  # another transaction created it first: raise that one
            _raise_version(owner_id, now_us)


def _raise_version(owner_id: int, now_us: int) -> int:
    """Raise an existing version to ``max(value + 1, now_us)``; how many rows (0 or 1)."""
    return TodoVersion.objects.filter(owner_id=owner_id).update(
        value=Greatest(F("value") + 1, Value(now_us))
    )


def _validate(todo: Todo) -> None:
    """Check field rules in Python (blank, length); the owner and the DB check are trusted."""
    todo.full_clean(exclude=["owner"], validate_unique=False, validate_constraints=False)
