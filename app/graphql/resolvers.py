"""What the root fields do: the caller's todos, through the same selectors, serializers and
services as the REST endpoints (thin, like the REST views)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import strawberry
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import EmptyPage, Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import as_serializer_error

from app.api.exceptions import flatten_field_errors
from app.api.pagination import POSITIVE_INTEGER, PageNumberPagination
from app.faults import graphql as graphql_faults
from app.graphql.context import GraphQLContext
from app.graphql.errors import BadUserInputError, NotFoundError, UnauthenticatedError
from app.graphql.types import CreateTodoInput, TodoOrder, TodoPage, TodoType, UpdateTodoInput
from app.todos import selectors, services
from app.todos.filters import search_terms
from app.todos.models import Todo
from app.todos.serializers import TodoSerializer

MAX_ID = 2**63 - 1  # the largest id PostgreSQL and SQLite store; any other is not found


def caller(info: strawberry.Info[GraphQLContext, None]) -> User:
    """The authenticated caller of this operation; injects the GraphQL faults, if any."""
    context = info.context
    user = context.user
    if user is None:
        raise UnauthenticatedError("Authentication credentials were not provided.")
    graphql_faults.inject(context.record.operation_name)
    return user


@contextlib.contextmanager
def user_input() -> Iterator[None]:
    """Turn the serializers' and services' validation errors into ``BAD_USER_INPUT``."""
    try:
        yield
    except ValidationError as error:
        detail = error.detail if isinstance(error.detail, dict) else {"input": error.detail}
        raise BadUserInputError(flatten_field_errors(detail)) from None
    except DjangoValidationError as error:
        raise BadUserInputError(flatten_field_errors(as_serializer_error(error))) from None


def todo_page(
    owner: User,
    *,
    completed: bool | None,
    search: str | None,
    ordering: Sequence[TodoOrder] | None,
    page: int,
    page_size: int,
) -> TodoPage:
    """One page of the owner's todos, filtered and sorted like ``GET /api/todos/``."""
    errors = {
        name: [POSITIVE_INTEGER]
        for name, value in (("page", page), ("pageSize", page_size))
        if value < 1
    }
    if errors:
        raise BadUserInputError(errors)
    with user_input():
        terms = search_terms(search or "")
    todos = selectors.todo_search(
        owner=owner,
        completed=completed,
        terms=terms,
        ordering=[key.value for key in ordering or ()],
    )
    size = min(page_size, PageNumberPagination.max_page_size)
    try:
        current = Paginator(todos, size).page(page)
    except EmptyPage:
        raise NotFoundError("Invalid page.") from None
    return TodoPage(
        total_count=current.paginator.count,
        page=page,
        page_size=size,
        has_next_page=current.has_next(),
        items=[TodoType.of(todo) for todo in current.object_list],
    )


def owned_todo(owner: User, todo_id: str) -> Todo:
    """The owner's todo ``todo_id``; ``NOT_FOUND`` for anybody else's, or none."""
    pk = int(todo_id) if todo_id.isascii() and todo_id.isdigit() else 0
    todo = selectors.todo_list(owner=owner).filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if todo is None:
        raise NotFoundError("No todo of yours has this id.")
    return todo


def create(owner: User, data: CreateTodoInput) -> TodoType:
    """``createTodo``: validated by the REST serializer, written by the service."""
    with user_input():
        serializer = TodoSerializer(data={"title": data.title, "completed": data.completed})
        serializer.is_valid(raise_exception=True)
        todo = services.todo_create(owner=owner, **serializer.validated_data)
    return TodoType.of(todo)


def update(owner: User, todo_id: str, changes: dict[str, Any]) -> TodoType:
    """``updateTodo`` and ``completeTodo``: a partial update of the owner's todo."""
    todo = owned_todo(owner, todo_id)
    with user_input():
        serializer = TodoSerializer(todo, data=changes, partial=True)
        serializer.is_valid(raise_exception=True)
        todo = services.todo_update(todo=todo, data=serializer.validated_data)
    return TodoType.of(todo)


def given(data: UpdateTodoInput) -> dict[str, Any]:
    """The fields of ``data`` that were sent (an explicit null included: it is refused)."""
    return {
        name: value
        for name, value in (("title", data.title), ("completed", data.completed))
        if value is not strawberry.UNSET
    }


def delete(owner: User, todo_id: str) -> strawberry.ID:
    """``deleteTodo``: the id of the todo deleted."""
    todo = owned_todo(owner, todo_id)
    pk = todo.pk
    services.todo_delete(todo=todo)
    return strawberry.ID(str(pk))
