"""``/api/faults/``: staff read the active faults, set them, and switch them off."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from app.faults import services
from app.faults.config import describe
from app.faults.serializers import FaultStateSerializer, FaultSwitchSerializer
from app.faults.state import state


def _current_state() -> dict[str, Any]:
    config = state.current()
    return {
        **describe(config),
        "active": config.active,
        "source": "runtime" if state.overridden else "environment",
    }


class FaultSwitchView(APIView):
    """Fault injection for demos and alert tests (staff only; refused in production)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        summary="Show the active faults", responses=FaultStateSerializer, tags=["faults"]
    )
    def get(self, request: Request) -> Response:
        return Response(_current_state())

    @extend_schema(
        summary="Switch faults on for every worker",
        request=FaultSwitchSerializer,
        responses=FaultStateSerializer,
        tags=["faults"],
    )
    def put(self, request: Request) -> Response:
        serializer = FaultSwitchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.fault_set(user=services.acting_user(request.user), **serializer.validated_data)
        return Response(_current_state())

    @extend_schema(
        summary="Switch faults off for every worker until set again (FAULT_* defaults too)",
        responses={204: None},
        tags=["faults"],
    )
    def delete(self, request: Request) -> Response:
        services.fault_clear(user=services.acting_user(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
