"""DRF exception handling: every error is JSON, and services' Django errors become 400s."""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class RequestEntityTooLarge(exceptions.APIException):
    """The request body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code = 413
    default_detail = "Request body too large."
    default_code = "request_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map Django errors to API errors, then let DRF render them.

    ``ValidationError`` from services becomes a 400 with field errors; a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` becomes a 413.
    """
    if isinstance(exc, RequestDataTooBig):
        exc = RequestEntityTooLarge()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    return drf_exception_handler(exc, context)
