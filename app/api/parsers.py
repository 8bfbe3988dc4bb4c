"""A JSON parser that bounds the body size and survives hostile nesting."""

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from app.api.exceptions import RequestEntityTooLarge


class BoundedJSONParser(JSONParser):
    """JSON only, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, never a 500 on odd input.

    DRF reads the body as a stream, so Django's own size limit does not apply; this reads one
    byte past the limit to catch bodies without a Content-Length as well.
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None

