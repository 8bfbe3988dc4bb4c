"""Todo representation and input validation."""

from typing import Any

from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictBooleanField, StrictCharField
from app.todos.models import TITLE_MAX_LENGTH, Todo


class TodoSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer[Todo]):
    """A todo as clients see it; only ``title`` and ``completed`` are writable."""

    title = StrictCharField(min_length=1, max_length=TITLE_MAX_LENGTH, trim_whitespace=True)
    completed = StrictBooleanField(required=False)

    class Meta:
        model = Todo
        fields = ["id", "title", "completed", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> Todo:
        raise NotImplementedError("Views create todos through app.todos.services.")

    def update(self, instance: Todo, validated_data: dict[str, Any]) -> Todo:
        raise NotImplementedError("Views update todos through app.todos.services.")
