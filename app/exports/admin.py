"""Exports in the admin: read-only, for looking at jobs."""

from django.contrib import admin

from app.exports.models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin[Export]):
    """List exports by state; nothing is editable."""

    list_display = ["id", "owner", "format", "status", "created_at", "finished_at", "attempts"]
    list_filter = ["status", "format"]
    readonly_fields = [field.name for field in Export._meta.fields]
