"""The GraphQL types: a todo, a page of them, the sort keys and the mutations' inputs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.todos.models import Todo


@strawberry.type(name="Todo", description="One of your todos.")
class TodoType:
    """A todo as clients see it (the REST API's fields)."""

    id: strawberry.ID
    title: str
    completed: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, todo: Todo) -> TodoType:
        """The GraphQL view of ``todo``."""
        return cls(
            id=strawberry.ID(str(todo.pk)),
            title=todo.title,
            completed=todo.completed,
            created_at=todo.created_at,
            updated_at=todo.updated_at,
        )


@strawberry.type(description="A page of your todos.")
class TodoPage:
    """One page of a todo list, with what a client needs to ask for the next."""

    total_count: int = strawberry.field(description="Todos matching, on all pages.")
    page: int
    page_size: int
    has_next_page: bool
    items: list[TodoType]


@strawberry.enum(description="Sort keys; ties are broken by id, so pages are stable.")
class TodoOrder(Enum):
    """The REST API's ``?ordering=`` keys (``CREATED_AT_DESC`` is ``-created_at``)."""

    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"
    TITLE = "title"
    TITLE_DESC = "-title"


@strawberry.input(description="A new todo: a title of 1..100 characters (trimmed).")
class CreateTodoInput:
    """``createTodo``'s input (the REST create body)."""

    title: str
    completed: bool = False


@strawberry.input(description="The fields to change; those left out keep their value.")
class UpdateTodoInput:
    """``updateTodo``'s input (the REST partial update body)."""

    title: str | None = strawberry.UNSET
    completed: bool | None = strawberry.UNSET
