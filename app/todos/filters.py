"""Query-string filters and ordering for the todo list."""

from collections.abc import Iterable
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

    def remove_invalid_fields(
        self, queryset: QuerySet[Any], fields: Iterable[str], view: APIView, request: Request
    ) -> list[str]:
        terms = list(fields)
        valid: list[str] = super().remove_invalid_fields(queryset, terms, view, request)
        unknown = [term for term in terms if term not in valid]
        if unknown:
            names = getattr(view, "ordering_fields", None) or []
            allowed = ", ".join(f"{prefix}{name}" for name in names for prefix in ("", "-"))
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown sort key {', '.join(map(repr, unknown))}; allowed: {allowed}."
                    ]
                }
            )
        return valid

    def get_ordering(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> list[str] | tuple[str, ...] | None:
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
