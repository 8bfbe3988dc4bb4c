"""JSON bodies for errors Django raises outside DRF views (unknown URLs, bad hosts, crashes)."""

from django.http import HttpRequest, JsonResponse


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """400 for requests Django rejects before routing (e.g. a disallowed Host)."""
    return _error(400, "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """403 outside DRF views."""
    return _error(403, "You do not have permission to perform this action.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for unknown paths and non-numeric ids."""
    return _error(404, "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    """500 without a traceback page."""
    return _error(500, "Internal server error.")
