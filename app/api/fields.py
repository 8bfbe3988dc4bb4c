"""Serializer fields that accept only the JSON type they document (no silent coercion)."""

from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from app.whitespace import is_blank, strip


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of converting them.

    With ``trim_whitespace`` it trims, and tests for blank, with ``app.whitespace`` (ECMA-262
    ``\\s``, the set the schema's patterns spell out), not with ``str.strip()``. The maximum
    length applies to the value as sent, as the schema's ``maxLength`` does, not to the
    trimmed value (which would accept a long value the schema calls invalid).
    """

    default_error_messages = {"invalid": "Must be a string."}

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if isinstance(data, str) and (data == "" or (self.trim_whitespace and is_blank(data))):
            if not self.allow_blank:
                self.fail("blank")
            return ""
        # past CharField's own blank test, which trims with str.strip()
        return serializers.Field.run_validation(self, data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return strip(data) if self.trim_whitespace else data


class StrictBooleanField(serializers.BooleanField):
    """A boolean field that accepts only JSON ``true`` and ``false``."""

    default_error_messages = {"invalid": "Must be a boolean (true or false)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class RejectUnknownFieldsMixin(serializers.Serializer[Any]):
    """Fail with a field error for every input key the serializer does not accept: keys it
    does not declare, and read-only ones (``id``, ``created_at``...), which the schema's
    ``additionalProperties: false`` request body leaves out too."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            errors = {
                name: ["Unknown field."] if name not in self.fields else ["Read-only field."]
                for name in sorted(data)
                if name not in self.fields or self.fields[name].read_only
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
