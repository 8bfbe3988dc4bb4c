"""Query-string filters and ordering for the todo list."""

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter, search_smart_split
from rest_framework.request import Request
from rest_framework.views import APIView

from app.todos.models import Todo
from app.todos.selectors import stable_ordering

SEARCH_MAX_LENGTH = 200  # twice the longest title: longer terms cannot match
ORDERING_MAX_LENGTH = 100  # every sort key once, with its `-`, takes 30 characters


class PresentChoiceField(forms.TypedChoiceField):
    """A choice that is absent (no filter) or one of the choices: an empty value sent
    (``?completed=``) is an invalid choice like any other, not the same as leaving it out."""

    def clean(self, value: Any) -> Any:
        if value == "":  # sent empty; an absent parameter is None
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": ""}
            )
        return super().clean(value)


class PresentChoiceFilter(django_filters.TypedChoiceFilter):  # type: ignore[misc]
    """``TypedChoiceFilter`` with ``PresentChoiceField``."""

    field_class = PresentChoiceField


class TodoFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    """``?completed=true|false``; any other value, the empty one included, is a 400, not a
    silently ignored filter."""

    completed = PresentChoiceFilter(
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
        if len(raw) > ORDERING_MAX_LENGTH:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Ensure this field has no more than {ORDERING_MAX_LENGTH} characters."
                    ]
                }
            )
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
        return stable_ordering(ordering)


class FieldErrorSearchFilter(SearchFilter):
    """``?search=`` of at most ``SEARCH_MAX_LENGTH`` characters (empty: no filter); a value
    refused (too long, NUL characters) is a field error under ``search``.

    DRF raises a bare list (``["Null characters are not allowed."]``), which is not the
    documented ``{"<field>": [...]}`` shape of a 400.
    """

    def get_search_terms(self, request: Request) -> list[str]:
        return search_terms(request.query_params.get(self.search_param, ""), self.search_param)


def search_terms(value: str, name: str = "search") -> list[str]:
    """The terms of a search of at most ``SEARCH_MAX_LENGTH`` characters (empty: none); a
    field error under ``name`` when it is longer or holds NUL characters (REST and GraphQL)."""
    field = serializers.CharField(
        trim_whitespace=False, allow_blank=True, max_length=SEARCH_MAX_LENGTH
    )
    try:
        cleaned = field.run_validation(value)
    except ValidationError as error:
        raise ValidationError({name: error.detail}) from None
    return list(search_smart_split(cleaned))
