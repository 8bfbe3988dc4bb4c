"""Route templates: the low-cardinality name of an endpoint, shared by logs and traces."""

from __future__ import annotations

import re

from django.http import HttpRequest

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
UNMATCHED = "unmatched"


def route_template(request: HttpRequest) -> str:
    """``/api/todos/{id}/`` for a request routed to ``api/todos/<int:pk>/``.

    Path converters become ``{name}`` (``pk`` reads ``id``, as in the OpenAPI schema); a
    request no URL pattern matched is ``unmatched``, so a scan of random paths cannot create
    new names.
    """
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route:
        return UNMATCHED
    template = _CONVERTER.sub(lambda m: "{id}" if m[1] == "pk" else f"{{{m[1]}}}", route)
    return "/" + template.lstrip("^").rstrip("$")
