"""Query-string filters and ordering for the todo list."""

from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.request import Request
from rest_framework.views import APIView

from app.todos.models import Todo


class TodoFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    """``?completed=true|false``; any other value is a 400, not a silently ignored filter."""

    completed = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        help_text="Only completed (`true`) or only open (`false`) todos.",
    )

    class Meta:
        model = Todo
        fields = ["completed"]


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` with the id as a tie-breaker, so equal keys never swap between pages;
    an unknown key is a 400 listing the allowed ones, not a silent fall-back to the default."""

    def _refuse_unknown_keys(self, request: Request, view: APIView) -> None:
        """A 400 for any key of ``?ordering=`` (exactly as sent) that is not a sort key."""
        raw = request.query_params.get(self.ordering_param) or ""
        names = getattr(view, "ordering_fields", None) or []
        allowed = [f"{prefix}{name}" for name in names for prefix in ("", "-")]
        unknown = [term for term in raw.split(",") if raw and term not in allowed]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown sort key {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(allowed)}."
                    ]
                }
            )

    def get_ordering(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> list[str] | tuple[str, ...] | None:
        self._refuse_unknown_keys(request, view)
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return None
        keys = [str(key) for key in ordering]
        if not any(key.lstrip("-") == "id" for key in keys):
            keys.append("-id" if keys[-1].startswith("-") else "id")
        return keys


class FieldErrorSearchFilter(SearchFilter):
    """``?search=``; a value DRF refuses (NUL characters) is a field error under ``search``.

    DRF raises a bare list (``["Null characters are not allowed."]``), which is not the
    documented ``{"<field>": [...]}`` shape of a 400.
    """

    def get_search_terms(self, request: Request) -> list[str]:
        try:
            return super().get_search_terms(request)
        except ValidationError as error:
            raise ValidationError({self.search_param: error.detail}) from None
