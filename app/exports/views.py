"""The exports endpoints: thin, delegating to selectors and services."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from app.api.schema import ErrorSerializer
from app.exports import selectors, services, storage
from app.exports.models import Export, ExportStatus
from app.exports.serializers import (
    ExportAcceptedSerializer,
    ExportCreateSerializer,
    ExportSerializer,
)


class NotReady(exceptions.APIException):
    """The export's file does not exist yet (or the job failed)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The export is not ready."
    default_code = "not_ready"


class FirstRenderer(BaseContentNegotiation):
    """The download answers with the file's own type whatever ``Accept`` says; its errors
    are JSON (the view's only renderer)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


_LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    location=OpenApiParameter.HEADER,
    response=[202],
    description="The export's status URL (same as `url`).",
)
_DOWNLOAD = OpenApiResponse(
    response=OpenApiTypes.BINARY,
    description="The file, as an attachment (`Content-Disposition: attachment`): `text/csv` "
    "(a header row, then `id,title,completed,created_at,updated_at` per todo) or "
    "`application/json` (an array of todo objects), as the export's `format` says.",
)


class ExportViewSet(viewsets.GenericViewSet[Export]):
    """Exports of the authenticated user's todos: request one, follow it, download the file."""

    serializer_class = ExportSerializer
    lookup_value_converter = "uuid"

    @extend_schema(
        summary="Export your todos (CSV or JSON), in the background",
        request=ExportCreateSerializer,
        responses={202: ExportAcceptedSerializer},
        parameters=[_LOCATION],
        description="Accepted: a worker writes the file. Follow `url` (also `Location`) until "
        "`status` is `succeeded`, then fetch `download_url`. Exports expire after "
        "`EXPORT_RETENTION_HOURS` (24 by default). 503 also when the job queue is unreachable.",
    )
    def create(self, request: Request) -> Response:
        """Store the export, publish its job, answer 202 with where to follow it."""
        serializer = ExportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = services.export_create(
            owner=self._owner(), format=serializer.validated_data["format"]
        )
        body = ExportAcceptedSerializer(export, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(summary="Get one of your exports", responses={200: ExportSerializer})
    def retrieve(self, request: Request, pk: uuid.UUID) -> Response:
        """The export's state."""
        return Response(self.get_serializer(self._export(pk)).data)

    @extend_schema(
        summary="Download an export's file",
        responses={
            (200, "text/csv"): _DOWNLOAD,
            (200, "application/json"): _DOWNLOAD,
            409: OpenApiResponse(
                ErrorSerializer, description="Not ready: the export is pending, running or failed."
            ),
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=FirstRenderer)
    def download(self, request: Request, pk: uuid.UUID) -> FileResponse:
        """The file once the export succeeded; 409 before."""
        export = self._export(pk)
        if export.status != ExportStatus.SUCCEEDED:
            raise NotReady(f"The export is not ready: it is {export.status}.")
        try:
            handle = storage.path_of(export.file_name).open("rb")
        except FileNotFoundError:
            raise exceptions.NotFound() from None
        return FileResponse(
            handle,
            as_attachment=True,
            filename=export.file_name,
            content_type=f"{export.content_type}; charset=utf-8",
        )

    def _export(self, pk: uuid.UUID) -> Export:
        export = selectors.export_get(owner=self._owner(), export_id=pk, now=timezone.now())
        if export is None:
            raise exceptions.NotFound()
        return export

    def _owner(self) -> User:
        user = self.request.user
        if not isinstance(user, User):
            raise exceptions.NotAuthenticated()
        return user
