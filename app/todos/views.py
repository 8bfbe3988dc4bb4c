"""The todos endpoints: thin, delegating reads to selectors and writes to services."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotAuthenticated

from app.api.schema import NUL_FREE_PATTERN
from app.todos import selectors, services
from app.todos.filters import (
    ORDERING_MAX_LENGTH,
    SEARCH_MAX_LENGTH,
    FieldErrorSearchFilter,
    StableOrderingFilter,
    TodoFilter,
)
from app.todos.models import Todo
from app.todos.serializers import TodoSerializer

ORDERING_FIELDS = ["created_at", "updated_at", "title"]
_ORDERING_KEY = "-?(?:" + "|".join(ORDERING_FIELDS) + ")"
ORDERING_PATTERN = f"^(?:{_ORDERING_KEY}(?:,{_ORDERING_KEY})*)?$"  # empty: the default

LIST_PARAMETERS = [
    OpenApiParameter(
        "completed",
        OpenApiTypes.BOOL,
        description="Only completed (`true`) or open (`false`) todos. Any other value, the "
        "empty one included, is a 400: leave the parameter out for all todos.",
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": SEARCH_MAX_LENGTH, "pattern": NUL_FREE_PATTERN},
        description="Case-insensitive match in the title (several words: each must match). "
        "Empty: no filter. Longer than the maximum or with NUL characters: 400.",
    ),
    OpenApiParameter(
        "ordering",
        {"type": "string", "maxLength": ORDERING_MAX_LENGTH, "pattern": ORDERING_PATTERN},
        description="Sort keys, comma-separated: "
        + ", ".join(f"`{prefix}{field}`" for field in ORDERING_FIELDS for prefix in ("", "-"))
        + "; `-` for descending. Empty: the default, `-created_at` (newest first). An unknown "
        "key is a 400.",
    ),
]


@extend_schema_view(
    list=extend_schema(summary="List your todos", parameters=LIST_PARAMETERS),
    create=extend_schema(summary="Create a todo"),
    retrieve=extend_schema(summary="Get one of your todos"),
    update=extend_schema(summary="Replace a todo's title and state"),
    partial_update=extend_schema(summary="Change some fields of a todo"),
    destroy=extend_schema(summary="Delete a todo"),
)
class TodoViewSet(viewsets.ModelViewSet[Todo]):
    """The authenticated user's todos: list, create, retrieve, update, delete."""

    serializer_class = TodoSerializer
    lookup_value_converter = "int"
    filter_backends = [DjangoFilterBackend, FieldErrorSearchFilter, StableOrderingFilter]
    filterset_class = TodoFilter
    search_fields = ["title"]
    ordering_fields = ORDERING_FIELDS
    ordering = list(selectors.DEFAULT_ORDERING)

    def get_queryset(self) -> QuerySet[Todo]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Todo.objects.none()
        return selectors.todo_list(owner=self._owner())

    def perform_create(self, serializer: serializers.BaseSerializer[Todo]) -> None:
        data: dict[str, Any] = serializer.validated_data
        serializer.instance = services.todo_create(owner=self._owner(), **data)

    def perform_update(self, serializer: serializers.BaseSerializer[Todo]) -> None:
        todo = self.get_object() if serializer.instance is None else serializer.instance
        data: dict[str, Any] = serializer.validated_data
        serializer.instance = services.todo_update(todo=todo, data=data)

    def perform_destroy(self, instance: Todo) -> None:
        services.todo_delete(todo=instance)

    def _owner(self) -> User:
        user = self.request.user
        if not isinstance(user, User):  # IsAuthenticated already refused anonymous callers
            raise NotAuthenticated()
        return user
