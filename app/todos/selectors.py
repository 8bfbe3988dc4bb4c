"""Reads of todos. Every query is scoped to one owner."""

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db.models import QuerySet

from app.todos.models import Todo, TodoVersion

DEFAULT_ORDERING = ("-created_at", "-id")


def todo_list(*, owner: User) -> QuerySet[Todo]:
    """The owner's todos, newest first (ties broken by id, so pages are stable)."""
    return Todo.objects.filter(owner=owner).order_by(*DEFAULT_ORDERING)


def stable_ordering(keys: Sequence[str]) -> list[str]:
    """Sort ``keys`` with the id as the last tie-breaker (in the last key's direction), so
    equal keys never swap between pages."""
    ordered = [str(key) for key in keys]
    if ordered and not any(key.lstrip("-") == "id" for key in ordered):
        ordered.append("-id" if ordered[-1].startswith("-") else "id")
    return ordered


def todo_search(
    *,
    owner: User,
    completed: bool | None = None,
    terms: Sequence[str] = (),
    ordering: Sequence[str] = (),
) -> QuerySet[Todo]:
    """The owner's todos as the list endpoints filter them: ``completed`` or not, every term
    in the title (case-insensitive), sorted by ``ordering`` (default: newest first)."""
    todos = todo_list(owner=owner)
    if completed is not None:
        todos = todos.filter(completed=completed)
    for term in terms:
        todos = todos.filter(title__icontains=term)
    return todos.order_by(*stable_ordering(ordering)) if ordering else todos


def todo_version(*, owner: User) -> int:
    """The version of the owner's todos (0 before their first write).

    No query when ``owner`` was loaded with ``select_related("todo_version")``, as the todos
    endpoints' authentication does (``app.api.authentication``).
    """
    try:
        return owner.todo_version.value
    except TodoVersion.DoesNotExist:
        return 0
