"""A JSON parser that answers hostile nesting with a 400 instead of a crash."""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, plus: deeply nested documents are a parse error, not a 500.

    The body size is bounded before parsing by Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (DRF reads JSON through ``request.body``); the exception handler turns that into a 413.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
