"""Page-number pagination with a client-chosen page size, bounded."""

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

POSITIVE_INTEGER = "A positive integer is required."


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` (default 1) and ``?page_size=`` (default 20) up to 100.

    Both are positive integers when present: an empty, non-numeric or zero value is a 400
    (DRF would silently use page 1 or the default size, and ``?page=last`` would be the last
    page); a page past the end is a 404; a ``page_size`` over 100 is capped, as documented.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    last_page_strings = ()

    def _positive_integer(self, request: Request, name: str) -> int | None:
        """The query parameter ``name`` as a positive integer, ``None`` when absent; else 400."""
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ValidationError({name: [POSITIVE_INTEGER]})
        return int(raw)

    def get_page_size(self, request: Request) -> int:
        size = self._positive_integer(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        number = self._positive_integer(request, self.page_query_param)
        return 1 if number is None else number

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        """``page`` and ``page_size`` as the code above reads them."""
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1 (default). Empty or not a positive integer: "
                "400; past the last page: 404.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Items per page, from 1 (default {self.page_size}); larger "
                f"values are capped at {self.max_page_size}. Empty or not a positive integer: "
                "400.",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """DRF's page schema, with every key required (``next`` and ``previous`` are always
        there, ``null`` at either end) and at most ``max_page_size`` results."""
        page: dict[str, Any] = super().get_paginated_response_schema(schema)
        page["required"] = list(page["properties"])
        page["properties"]["results"] = {**schema, "maxItems": self.max_page_size}
        return page
