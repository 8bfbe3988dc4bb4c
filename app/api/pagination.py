"""Page-number pagination with a client-chosen page size, bounded."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` (default 20 per page) and ``?page_size=`` up to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
