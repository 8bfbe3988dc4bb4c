"""Admin for the fault switch: the same rules as the API (services do the writing)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from app.faults import services
from app.faults.config import faults_allowed
from app.faults.models import FaultSetting


@admin.register(FaultSetting)
class FaultSettingAdmin(admin.ModelAdmin[FaultSetting]):
    """Switch faults on (add or change the one row) and off (delete it: stored as "off")."""

    list_display = ["__str__", "routes", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = faults_allowed() and not FaultSetting.objects.exists()
        return allowed and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return faults_allowed() and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: FaultSetting, form: Any, change: bool) -> None:
        try:
            services.fault_set(
                error_rate=obj.error_rate,
                latency_ms=obj.latency_ms,
                latency_jitter_ms=obj.latency_jitter_ms,
                routes=list(obj.routes or []),
                user=services.acting_user(request.user),
            )
        except PermissionDenied as refused:
            messages.error(request, str(refused))

    def delete_model(self, request: HttpRequest, obj: FaultSetting) -> None:
        services.fault_clear(user=services.acting_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[FaultSetting]) -> None:
        services.fault_clear(user=services.acting_user(request.user))
