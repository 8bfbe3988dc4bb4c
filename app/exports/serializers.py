"""Export requests and representations."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin
from app.exports.models import Export, ExportFormat, ExportStatus


class ExportCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """``{"format": "csv" | "json"}``."""

    format = serializers.ChoiceField(choices=ExportFormat.choices)


def _absolute(serializer: serializers.Serializer[Any], name: str, export: Export) -> str:
    path = reverse(name, kwargs={"pk": export.pk})
    request = serializer.context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class ExportAcceptedSerializer(serializers.ModelSerializer[Export]):
    """The answer to a new export: where to follow it (``url``, also ``Location``)."""

    status = serializers.ChoiceField(choices=ExportStatus.choices, read_only=True)
    format = serializers.ChoiceField(choices=ExportFormat.choices, read_only=True)
    url = serializers.SerializerMethodField(help_text="The export's status URL.")

    class Meta:
        model = Export
        fields = ["id", "status", "format", "created_at", "url"]
        read_only_fields = fields

    def get_url(self, export: Export) -> str:
        """The status URL, absolute."""
        return _absolute(self, "export-detail", export)


class ExportSerializer(serializers.ModelSerializer[Export]):
    """An export's state; ``download_url`` once it succeeded."""

    status = serializers.ChoiceField(choices=ExportStatus.choices, read_only=True)
    format = serializers.ChoiceField(choices=ExportFormat.choices, read_only=True)
    download_url = serializers.SerializerMethodField(
        help_text="Where to fetch the file; null until the export succeeded."
    )

    class Meta:
        model = Export
        fields = [
            "id",
            "status",
            "format",
            "created_at",
            "finished_at",
            "todo_count",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        """The download URL, absolute, once the file exists."""
        if export.status != ExportStatus.SUCCEEDED:
            return None
        return _absolute(self, "export-download", export)
