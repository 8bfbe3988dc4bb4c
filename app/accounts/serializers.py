"""Registration input and output."""

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField


class RegisterSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """``{"username", "password"}`` in; ``{"id", "username"}`` out."""

    id = serializers.IntegerField(read_only=True)
    username = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, trim_whitespace=False, max_length=128)

    def validate_username(self, value: str) -> str:
        if get_user_model().objects.filter(username=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value
