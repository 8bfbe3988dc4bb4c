"""GraphQL error codes (``extensions.code``) and which of them are the server's fault.

Every error in a response carries a code. Resolvers raise ``GraphQLClientError`` subclasses
for the client's mistakes; the limits raise ``QUERY_TOO_COMPLEX`` themselves; everything else
is classified here from where it came from:

| code | what | burns the SLO budget |
| --- | --- | --- |
| ``BAD_REQUEST`` | the HTTP request itself: not JSON, no query, a batch, a mutation over GET | no |
| ``GRAPHQL_PARSE_FAILED`` | the document is not GraphQL | no |
| ``GRAPHQL_VALIDATION_FAILED`` | not valid for the schema (introspection while off too) | no |
| ``QUERY_TOO_COMPLEX`` | depth, aliases, tokens or estimated cost over the limits | no |
| ``BAD_USER_INPUT`` | arguments or variables refused (title 1..100, page size...) | no |
| ``UNAUTHENTICATED`` | no or bad bearer token (HTTP 401) | no |
| ``NOT_FOUND`` | no such todo of yours (someone else's included), or a page past the end | no |
| ``THROTTLED`` | over the rate (HTTP 429, ``Retry-After``) | no |
| ``SERVICE_UNAVAILABLE`` | the database or the cache unreachable | **yes** |
| ``INTERNAL_SERVER_ERROR`` | anything unexpected in a resolver (its message is masked) | **yes** |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import GraphQLError, GraphQLSyntaxError

from app.api.exceptions import UNAVAILABLE_ERRORS

BAD_REQUEST: Final = "BAD_REQUEST"
PARSE_FAILED: Final = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED: Final = "GRAPHQL_VALIDATION_FAILED"
QUERY_TOO_COMPLEX: Final = "QUERY_TOO_COMPLEX"
BAD_USER_INPUT: Final = "BAD_USER_INPUT"
UNAUTHENTICATED: Final = "UNAUTHENTICATED"
NOT_FOUND: Final = "NOT_FOUND"
THROTTLED: Final = "THROTTLED"
SERVICE_UNAVAILABLE: Final = "SERVICE_UNAVAILABLE"
INTERNAL_SERVER_ERROR: Final = "INTERNAL_SERVER_ERROR"

CODES: Final = (
    BAD_REQUEST,
    PARSE_FAILED,
    VALIDATION_FAILED,
    QUERY_TOO_COMPLEX,
    BAD_USER_INPUT,
    UNAUTHENTICATED,
    NOT_FOUND,
    THROTTLED,
    SERVICE_UNAVAILABLE,
    INTERNAL_SERVER_ERROR,
)
# The server's fault: these make an operation's outcome ``server_error`` (the SLI's failures).
SERVER_CODES: Final = frozenset({SERVICE_UNAVAILABLE, INTERNAL_SERVER_ERROR})

MASKED_MESSAGES: Final = {
    INTERNAL_SERVER_ERROR: "Internal server error.",
    SERVICE_UNAVAILABLE: "Service temporarily unavailable, retry later.",
}
# graphql-core's parser stops with this when the document has more tokens than allowed.
_PARSER_LIMIT_TAIL = "tokens. Parsing aborted."


class GraphQLClientError(Exception):
    """A client's mistake, raised by a resolver: shown with its message and code."""

    code: str = BAD_USER_INPUT

    def __init__(self, message: str, *, extensions: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.extensions = dict(extensions or {})


class BadUserInputError(GraphQLClientError):
    """Arguments refused; ``field_errors`` as the REST API's 400 body (``{"title": [...]}``)."""

    code = BAD_USER_INPUT

    def __init__(self, field_errors: Mapping[str, Any]) -> None:
        super().__init__("Invalid input.", extensions={"fieldErrors": dict(field_errors)})


class NotFoundError(GraphQLClientError):
    """No such todo of the caller's (another user's is not found either), or no such page."""

    code = NOT_FOUND


class UnauthenticatedError(GraphQLClientError):
    """No authenticated user (the view refuses anonymous requests first; defence in depth)."""

    code = UNAUTHENTICATED


def error_code(error: GraphQLError, *, stage: str) -> str:
    """The code of ``error``, raised while ``stage`` (``parse``, ``validate``, ``execute``)."""
    original = error.original_error
    if isinstance(original, GraphQLClientError):
        return original.code
    if original is not None and not isinstance(original, GraphQLError):
        return (
            SERVICE_UNAVAILABLE
            if isinstance(original, UNAVAILABLE_ERRORS)
            else (INTERNAL_SERVER_ERROR)
        )
    given = (error.extensions or {}).get("code")
    if isinstance(given, str) and given in CODES:
        return given
    if isinstance(error, GraphQLSyntaxError) or stage == "parse":
        return QUERY_TOO_COMPLEX if _PARSER_LIMIT_TAIL in error.message else PARSE_FAILED
    if stage == "validate":
        return VALIDATION_FAILED
    # Executing: no path means the variables were refused before any resolver ran; with a
    # path, graphql-core itself failed a field (e.g. a null for a non-null field): ours.
    return BAD_USER_INPUT if error.path is None else INTERNAL_SERVER_ERROR


def formatted(error: GraphQLError, code: str) -> dict[str, Any]:
    """``error`` as the response shows it: message (masked for server errors), locations,
    path and ``extensions`` with the code."""
    body: dict[str, Any] = {"message": MASKED_MESSAGES.get(code, error.message)}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        body["path"] = list(error.path)
    extensions: dict[str, Any] = {"code": code}
    original = error.original_error
    if isinstance(original, GraphQLClientError):
        extensions.update(original.extensions)
    body["extensions"] = extensions
    return body


def request_error(message: str, code: str) -> dict[str, Any]:
    """A response body for a request refused before any GraphQL ran."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}
