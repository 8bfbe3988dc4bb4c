"""Registration input and output."""

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField


class RegisterSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """``{"username", "password"}`` in; ``{"id", "username"}`` out."""

    id = serializers.IntegerField(read_only=True)
    # the model's own validator, so the schema documents its pattern (full_clean repeats it)
    username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = StrictCharField(write_only=True, trim_whitespace=False, max_length=128)
