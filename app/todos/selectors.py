"""Reads of todos. Every query is scoped to one owner."""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from app.todos.models import Todo

DEFAULT_ORDERING = ("-created_at", "-id")


def todo_list(*, owner: User) -> QuerySet[Todo]:
    """The owner's todos, newest first (ties broken by id, so pages are stable)."""
    return Todo.objects.filter(owner=owner).order_by(*DEFAULT_ORDERING)
