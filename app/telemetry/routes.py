"""Route templates: the low-cardinality name of an endpoint, shared by logs and traces."""

from __future__ import annotations

import re
from functools import lru_cache

from django.http import HttpRequest

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
UNMATCHED = "unmatched"


def route_template(request: HttpRequest) -> str:
    """The matched route template, or ``unmatched`` (logs and metrics need a value)."""
    return matched_route(request) or UNMATCHED


def matched_route(request: HttpRequest) -> str | None:
    """``/api/todos/{id}/`` for a request routed to ``api/todos/<int:pk>/``.

    Path converters become ``{name}`` (``pk`` reads ``id``, as in the OpenAPI schema); a
    request no URL pattern matched has none (``None``), so a scan of random paths cannot
    create new names.
    """
    cached: str | None = getattr(request, "_route_template", None)
    if cached is not None:
        return cached
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route:
        return None  # not cached: routing may not have happened yet
    template = template_of(route)
    request._route_template = template  # type: ignore[attr-defined]  # logs, span, faults share it
    return template


@lru_cache(maxsize=1024)  # the URL conf's routes: a fixed set
def template_of(route: str) -> str:
    """``/api/todos/{id}/`` for the pattern ``api/todos/<int:pk>/``, remembered per pattern
    (3.0k instructions fewer a request than substituting each time: callgrind, a loop)."""
    template = _CONVERTER.sub(lambda m: "{id}" if m[1] == "pk" else f"{{{m[1]}}}", route)
    return "/" + template.lstrip("^").rstrip("$")
