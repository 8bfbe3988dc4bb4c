"""The todos endpoints: thin, delegating reads to selectors and writes to services."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http.response import HttpResponseBase
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from app.api.schema import NUL_FREE_PATTERN
from app.todos import response_cache, selectors, services
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


# Conditional reads (app.todos.response_cache): documented on both cached operations.
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The `ETag` of a copy you hold: `304 Not Modified`, with no body, when nothing "
    "you could see through this request changed since.",
)
CACHED_READ_HEADERS = [
    OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        description="Changes with any write to your todos; send it back in `If-None-Match`.",
    ),
    OpenApiParameter(
        "Cache-Control",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=True,
        description="`private, no-cache`: keep it, but revalidate before each use.",
    ),
]
NOT_MODIFIED = OpenApiResponse(
    description="Not modified: the `If-None-Match` ETag is current; reuse your copy."
)


def _cached_read(summary: str, parameters: list[OpenApiParameter]) -> Any:
    return extend_schema(
        summary=summary,
        parameters=[*parameters, IF_NONE_MATCH, *CACHED_READ_HEADERS],
        responses={200: TodoSerializer, 304: NOT_MODIFIED},
    )


@extend_schema_view(
    list=_cached_read("List your todos", LIST_PARAMETERS),
    create=extend_schema(summary="Create a todo"),
    retrieve=_cached_read("Get one of your todos", []),
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

    # HttpResponseBase, not DRF's Response: a cache hit or a 304 is a plain Django response.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        """The page, through the response cache when it is on."""
        return self._cached("todo-list", lambda: super(TodoViewSet, self).list(request))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        """One todo, through the response cache when it is on."""
        return self._cached(
            "todo-detail", lambda: super(TodoViewSet, self).retrieve(request, *args, **kwargs)
        )

    def perform_create(self, serializer: serializers.BaseSerializer[Todo]) -> None:
        data: dict[str, Any] = serializer.validated_data
        serializer.instance = services.todo_create(owner=self._owner(), **data)

    def perform_update(self, serializer: serializers.BaseSerializer[Todo]) -> None:
        todo = self.get_object() if serializer.instance is None else serializer.instance
        data: dict[str, Any] = serializer.validated_data
        serializer.instance = services.todo_update(todo=todo, data=data)

    def perform_destroy(self, instance: Todo) -> None:
        services.todo_delete(todo=instance)

    def _cached(self, view: str, render: Callable[[], HttpResponseBase]) -> HttpResponseBase:
        """``render()``, or its cached copy or a 304 (``app.todos.response_cache``)."""
        if not response_cache.enabled():
            return render()
        owner = self._owner()
        return response_cache.serve(
            self.request,
            view=view,
            owner_id=owner.pk,
            version=selectors.todo_version(owner=owner),
            render=render,
        )

    def _owner(self) -> User:
        user = self.request.user
        if not isinstance(user, User):  # IsAuthenticated already refused anonymous callers
            raise NotAuthenticated()
        return user
