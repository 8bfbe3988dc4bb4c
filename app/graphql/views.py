"""``/graphql/``: the HTTP side of the GraphQL endpoint (thin, like the REST views).

A DRF view, so GraphQL gets exactly the REST API's request handling: the bearer JWT
authentication, authenticated callers only, the same throttle classes as the todos endpoints,
the JSON parser with its body size limit. ``POST`` runs queries and mutations; ``GET`` runs
queries only (``?query=&variables=&operationName=``). Errors are GraphQL error objects with
``extensions.code`` (``app.graphql.errors``): a request refused before GraphQL runs answers its
HTTP status (400, 401, 405, 413, 415, 429 with ``Retry-After``, 503), an operation that ran
answers 200, its errors in ``errors``. Not in the OpenAPI schema (it describes REST).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from graphql import GraphQLError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.graphql import errors
from app.graphql.context import GraphQLContext, OperationRecord
from app.graphql.schema import schema
from app.graphql.telemetry import observe, report_server_error
from app.todos.views import TodoViewSet

_QUERIES = frozenset({OperationType.QUERY})
_BY_METHOD = {"POST": frozenset({OperationType.QUERY, OperationType.MUTATION})}  # else queries
# Requests that carry an operation (HEAD is GET without a body); OPTIONS and the rest do not.
_OPERATION_METHODS = frozenset({"GET", "HEAD", "POST"})
# A request refused before GraphQL ran: its HTTP status -> the error's code.
_REQUEST_CODES = {
    status.HTTP_401_UNAUTHORIZED: errors.UNAUTHENTICATED,
    status.HTTP_403_FORBIDDEN: errors.UNAUTHENTICATED,
    status.HTTP_429_TOO_MANY_REQUESTS: errors.THROTTLED,
    status.HTTP_503_SERVICE_UNAVAILABLE: errors.SERVICE_UNAVAILABLE,
}


class BadGraphQLRequest(APIException):
    """The HTTP request does not carry one GraphQL operation as the protocol says."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"


class MutationOverGet(BadGraphQLRequest):
    """A mutation sent with ``GET`` (it must be ``POST``: GET requests may be repeated)."""

    status_code = status.HTTP_405_METHOD_NOT_ALLOWED


@extend_schema(exclude=True)
class GraphQLView(APIView):
    """The GraphQL endpoint: one operation per request, for the authenticated caller."""

    throttle_classes = TodoViewSet.throttle_classes  # the same limits as the REST reads/writes

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        started = time.perf_counter()
        record = OperationRecord()
        request.graphql_record = record  # type: ignore[attr-defined]
        try:
            response = super().dispatch(request, *args, **kwargs)
        except BaseException:
            record.codes.append(errors.INTERNAL_SERVER_ERROR)
            observe(request, record, time.perf_counter() - started)
            raise
        if request.method in _OPERATION_METHODS:
            observe(request, record, time.perf_counter() - started)
        return response

    def get(self, request: Request) -> Response:
        """A query from the query string."""
        params = request.query_params
        variables = params.get("variables")
        try:
            decoded = json.loads(variables) if variables else None
        except ValueError:
            raise BadGraphQLRequest("variables is not JSON.") from None
        return self._run(
            request,
            {
                "query": params.get("query"),
                "variables": decoded,
                "operationName": params.get("operationName"),
            },
        )

    def post(self, request: Request) -> Response:
        """A query or mutation from the JSON body."""
        return self._run(request, request.data)

    def _run(self, request: Request, body: Any) -> Response:
        query, variables, operation_name = _operation(body)
        record: OperationRecord = request._request.graphql_record  # type: ignore[attr-defined]
        record.requested_name = operation_name
        try:
            result = schema.execute_sync(
                query,
                variable_values=variables,
                context_value=GraphQLContext(request=request, record=record),
                operation_name=operation_name,
                allowed_operation_types=_BY_METHOD.get(request.method or "", _QUERIES),
            )
        except MissingQueryError:
            raise BadGraphQLRequest("No GraphQL query found in the request.") from None
        except CannotGetOperationTypeError:
            raise BadGraphQLRequest(
                f"No operation named {operation_name!r} in the document."
                if operation_name
                else "The document has several operations: choose one with operationName."
            ) from None
        except InvalidOperationTypeError:
            raise MutationOverGet("Mutations are only accepted with POST.") from None
        body_out: dict[str, Any] = {}
        if result.errors:
            body_out["errors"] = [_error(error, record) for error in result.errors]
        if record.stage == "execute":
            body_out["data"] = result.data
        return Response(body_out)

    def handle_exception(self, exc: Exception) -> Response:
        """A request refused before GraphQL ran: DRF's status and headers (401 with
        ``WWW-Authenticate``, 429 with ``Retry-After``...), a GraphQL error body."""
        response = super().handle_exception(exc)
        code = _REQUEST_CODES.get(response.status_code, errors.BAD_REQUEST)
        record: OperationRecord = self.request._request.graphql_record  # type: ignore[attr-defined]
        record.codes.append(code)
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = errors.request_error(str(detail or "Bad request."), code)
        return response


def _operation(body: Any) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """``query``, ``variables`` and ``operationName`` of a request, each of its type."""
    if not isinstance(body, dict):
        raise BadGraphQLRequest("The body must be one JSON object (batches are not supported).")
    query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str | None):
        raise BadGraphQLRequest("query must be a string.")
    if not isinstance(variables, dict | None):
        raise BadGraphQLRequest("variables must be an object.")
    if not isinstance(name, str | None):
        raise BadGraphQLRequest("operationName must be a string.")
    return query, variables, name


def _error(error: GraphQLError, record: OperationRecord) -> dict[str, Any]:
    """One error of the response, classified, counted, and reported when it is ours."""
    code = errors.error_code(error, stage=record.stage)
    record.codes.append(code)
    if code in errors.SERVER_CODES and error.original_error is not None:
        report_server_error(code, error.original_error)
    return errors.formatted(error, code)
