"""Registration input and output."""

from typing import Any

from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField


class RegisterSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """``{"username", "password"}`` in; ``{"id", "username"}`` out."""

    id = serializers.IntegerField(read_only=True)
    username = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, trim_whitespace=False, max_length=128)
