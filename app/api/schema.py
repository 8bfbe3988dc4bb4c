"""OpenAPI generation that documents the error responses every operation can return.

drf-spectacular documents success bodies only; clients (and schema-based fuzzers) also need
the 4xx and 503 shapes this API really sends, the rules its string fields enforce, which
fields a response always has, and which operations need no credentials.
"""

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.drainage import warn
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions, serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField
from app.whitespace import CHARACTER_CLASS

# DRF's CharField refuses NUL characters (PostgreSQL cannot store them); one that trims
# whitespace and does not allow blanks also needs one non-whitespace character. Whitespace is
# app.whitespace's set spelled out, never `\s`: engines disagree on what `\s` matches.
# (`\u0000` rather than `\x00`: the escaping drf-spectacular uses for validators' patterns)
NUL_FREE_PATTERN = r"^[^\u0000]*$"
NON_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{CHARACTER_CLASS}][^\u0000]*$"


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every non-validation error: ``{"detail": "..."}``."""

    detail = serializers.CharField()


FIELD_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Field errors: each invalid or unknown field maps to its messages; a "
    "field inside a list or an object is named by its dotted path (`routes.0`); errors not "
    "tied to one field are under `non_field_errors`, request-level ones (malformed JSON) are "
    "a string under `detail`.",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    },
}
FIELD_ERRORS = ResolvedComponent(  # type: ignore[no-untyped-call]
    name="FieldErrors",
    type=ResolvedComponent.SCHEMA,
    object="FieldErrors",
    schema=FIELD_ERRORS_SCHEMA,
)

_DESCRIPTIONS = {
    "400": "Invalid input: malformed JSON or field errors.",
    "401": "Missing, invalid or expired credentials.",
    "403": "Not allowed: staff only (or refused in production).",
    "404": "Not found (also for another user's todo or export).",
    "413": "Request body larger than the configured limit.",
    "415": "Unsupported media type: send `application/json`.",
    "429": "Throttled: retry after the number of seconds in `Retry-After`.",
    "503": "A dependency (the database, the cache or the job queue) is unreachable: retry "
    "after the number of seconds in `Retry-After`.",
}
RETRY_AFTER_HEADER = {
    "schema": {"type": "integer", "minimum": 0},
    "description": "Seconds to wait before retrying.",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    """Add the 400/401/403/404/413/415/429/503 responses an operation can produce; document
    anonymous operations with an empty ``security`` and every response field as required."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """drf-spectacular writes ``security: [{}]`` ("no credentials will do") for an
        ``AllowAny`` view, or nothing; generated clients (openapi-python-client) read any
        non-empty list as "needs an authenticated client". An operation whose requirements
        are all empty gets ``security: []``: none, and not inheriting a global one either."""
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is not None and not any(operation.get("security", [])):
            operation["security"] = []
        return operation

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code in responses:
                continue
            if code == "400":
                self.registry.register_on_missing(FIELD_ERRORS)
                body: Any = FIELD_ERRORS.ref
            else:
                body = ErrorSerializer
            response = self._get_response_for_code(body, code, direction=direction)  # type: ignore[no-untyped-call]
            response["description"] = _DESCRIPTIONS[code]
            responses[code] = response
        return responses

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        """Request bodies of serializers that refuse unknown keys say so; in responses every
        field is required, since DRF renders every readable field of the objects we serialize
        (the tests check the bodies against it)."""
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)  # type: ignore[no-untyped-call]
        if direction == "request" and isinstance(serializer, RejectUnknownFieldsMixin):
            schema["additionalProperties"] = False
        if direction == "response" and schema.get("properties"):
            schema["required"] = list(schema["properties"])
        return schema

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        """Input strings document what ``StrictCharField`` refuses: NUL, and blank (by
        ``app.whitespace``) when it trims. A plain DRF ``CharField`` trims with
        ``str.strip()``, which no pattern can state, so one in a request is a warning (the
        schema test runs with ``--fail-on-warn``)."""
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)  # type: ignore[no-untyped-call]
        plain_string = (
            isinstance(schema, dict)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
            and not any(isinstance(v, RegexValidator) for v in getattr(field, "validators", []))
        )
        if (
            direction != "request"
            or field.read_only
            or not isinstance(field, serializers.CharField)
        ):
            return schema
        if not isinstance(field, StrictCharField) and field.trim_whitespace:
            warn(f"{field.parent.__class__.__name__}.{field.field_name}: use StrictCharField")
        elif plain_string:
            non_blank = field.trim_whitespace and not field.allow_blank
            schema = {**schema, "pattern": NON_BLANK_PATTERN if non_blank else NUL_FREE_PATTERN}
        return schema

    def _error_codes(self) -> list[str]:
        codes: list[str] = []
        has_body = self.method in {"POST", "PUT", "PATCH"}
        if has_body or self._is_list_view():
            codes.append("400")
        if self._requires_auth() or getattr(self.view, "rejects_credentials", False):
            codes.append("401")
        if self._requires_staff():
            codes.append("403")
        if "{" in self.path or self._is_list_view():
            codes.append("404")  # unknown id, or a page past the end
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        codes.append("503")  # every operation reads the database (a token's user, at least)
        return codes

    def _requires_auth(self) -> bool:
        return any(
            isinstance(permission, (permissions.IsAuthenticated, permissions.IsAdminUser))
            for permission in self.view.get_permissions()
        )

    def _requires_staff(self) -> bool:
        return any(
            isinstance(permission, permissions.IsAdminUser)
            for permission in self.view.get_permissions()
        )

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> Any:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code in {"429", "503"}:
            headers = {**(headers or {}), "Retry-After": RETRY_AFTER_HEADER}
        return headers
