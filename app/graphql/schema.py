"""The GraphQL schema: ``todos`` and ``todo``, and the four todo mutations.

Root fields are nullable, so one failing field (a foreign id: ``NOT_FOUND``) leaves the rest
of the answer intact; every error carries ``extensions.code`` (``app.graphql.errors``).
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.api.pagination import PageNumberPagination
from app.graphql import resolvers
from app.graphql.context import GraphQLContext
from app.graphql.limits import OperationLimits
from app.graphql.telemetry import OperationObserver
from app.graphql.types import CreateTodoInput, TodoOrder, TodoPage, TodoType, UpdateTodoInput

Info = strawberry.Info[GraphQLContext, None]


@strawberry.type
class Query:
    """Reads of the caller's todos."""

    @strawberry.field(description="A page of your todos, filtered and sorted as asked.")
    def todos(
        self,
        info: Info,
        *,
        completed: bool | None = None,
        search: str | None = None,
        ordering: list[TodoOrder] | None = None,
        page: int = 1,
        page_size: int = PageNumberPagination.page_size,
    ) -> TodoPage | None:
        """``GET /api/todos/``: ``search`` at most 200 characters, ``pageSize`` capped at 100,
        a page past the end is ``NOT_FOUND``."""
        return resolvers.todo_page(
            resolvers.caller(info),
            completed=completed,
            search=search,
            ordering=ordering,
            page=page,
            page_size=page_size,
        )

    @strawberry.field(description="One of your todos; anybody else's is NOT_FOUND.")
    def todo(self, info: Info, id: strawberry.ID) -> TodoType | None:  # GraphQL's name
        """``GET /api/todos/{id}/``."""
        return TodoType.of(resolvers.owned_todo(resolvers.caller(info), id))


@strawberry.type
class Mutation:
    """Writes to the caller's todos."""

    @strawberry.mutation(description="Create a todo (title 1..100 characters, trimmed).")
    def create_todo(self, info: Info, input: CreateTodoInput) -> TodoType | None:
        """``POST /api/todos/``."""
        return resolvers.create(resolvers.caller(info), input)

    @strawberry.mutation(description="Change a todo's title or state.")
    def update_todo(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateTodoInput,
    ) -> TodoType | None:
        """``PATCH /api/todos/{id}/``."""
        return resolvers.update(resolvers.caller(info), id, resolvers.given(input))

    @strawberry.mutation(description="Mark a todo completed.")
    def complete_todo(self, info: Info, id: strawberry.ID) -> TodoType | None:
        """``PATCH /api/todos/{id}/`` with ``{"completed": true}``."""
        return resolvers.update(resolvers.caller(info), id, {"completed": True})

    @strawberry.mutation(description="Delete a todo; answers its id.")
    def delete_todo(self, info: Info, id: strawberry.ID) -> strawberry.ID | None:
        """``DELETE /api/todos/{id}/``."""
        return resolvers.delete(resolvers.caller(info), id)


class TodoSchema(strawberry.Schema):
    """Strawberry's schema, without its error log line: every error is classified, counted
    and, when it is the server's fault, logged once by the view (``app.graphql.views``)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here (a client's mistake is not an error of the service)."""


schema = TodoSchema(
    query=Query,
    mutation=Mutation,
    extensions=[OperationLimits, OperationObserver],
    config=StrawberryConfig(auto_camel_case=True),
)
