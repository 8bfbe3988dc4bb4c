"""The Export model: one requested export of a user's todos and where its job stands."""

import uuid

from django.conf import settings
from django.db import models


class ExportFormat(models.TextChoices):
    """The file formats an export can have."""

    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class ExportStatus(models.TextChoices):
    """Where the export's job stands."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


CONTENT_TYPES = {ExportFormat.CSV: "text/csv", ExportFormat.JSON: "application/json"}


class Export(models.Model):
    """An export of its owner's todos; the file lives in the export storage directory."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The last time a message for this job was published (the first, or a requeue).
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    # Runs that claimed the job; a run only finishes the job if it holds the latest claim.
    attempts = models.PositiveIntegerField(default=0)
    todo_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="export_expires_idx"),
            models.Index(fields=["status", "enqueued_at"], name="export_status_enqueued_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.format} export {self.id} ({self.status})"

    @property
    def file_name(self) -> str:
        """The file's name in storage and in the download's ``Content-Disposition``."""
        return f"todos-{self.id}.{self.format}"

    @property
    def content_type(self) -> str:
        """The download's media type."""
        return CONTENT_TYPES[ExportFormat(self.format)]
