"""Page-number pagination with a client-chosen page size, bounded."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` (default 20 per page) and ``?page_size=`` up to 100.

    A ``page_size`` that is not a positive integer is a 400 (DRF would silently use the
    default); a larger one than 100 is capped, as documented.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: ["A positive integer is required."]})
        return min(int(raw), self.max_page_size)
