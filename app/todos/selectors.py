"""Reads of todos. Every query is scoped to one owner."""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from app.todos.models import Todo, TodoVersion

DEFAULT_ORDERING = ("-created_at", "-id")


def todo_list(*, owner: User) -> QuerySet[Todo]:
    """The owner's todos, newest first (ties broken by id, so pages are stable)."""
    return Todo.objects.filter(owner=owner).order_by(*DEFAULT_ORDERING)


def todo_version(*, owner: User) -> int:
    """The version of the owner's todos (0 before their first write).

    No query when ``owner`` was loaded with ``select_related("todo_version")``, as the todos
    endpoints' authentication does (``app.api.authentication``).
    """
    try:
        return owner.todo_version.value
    except TodoVersion.DoesNotExist:
        return 0
