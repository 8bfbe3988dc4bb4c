"""Registration and token input and output.

Every input string is a ``StrictCharField`` with a documented maximum length, so the schema's
``maxLength`` and the server's limit are the same number.
"""

from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework_simplejwt import serializers as jwt_serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField

USERNAME_MAX_LENGTH: int = User._meta.get_field("username").max_length or 150
PASSWORD_MAX_LENGTH = 128
# A refresh token of this service is about 230 characters; anything much longer is not one.
TOKEN_MAX_LENGTH = 1024

# New usernames: ASCII letters, digits and @.+-_ (Django's default allows any Unicode letter
# as `\w`). Spelled without `\w`, which ECMA-262, the schema's regex language, reads as
# ASCII and Python's re as Unicode: a client and the server read the same rule.
USERNAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_.@+-]+\Z",
    message="Enter a valid username: ASCII letters, digits and @/./+/-/_ characters only.",
)


def minimum_password_length() -> int:
    """The ``MinimumLengthValidator``'s length in ``AUTH_PASSWORD_VALIDATORS`` (1 without one)."""
    for validator in password_validation.get_default_password_validators():
        if isinstance(validator, password_validation.MinimumLengthValidator):
            return int(validator.min_length)
    return 1


class RegisterSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """``{"username", "password"}`` in; ``{"id", "username"}`` out."""

    id = serializers.IntegerField(read_only=True)
    # the pattern is documented as the validator's regex and checks the value as sent
    username = StrictCharField(
        max_length=USERNAME_MAX_LENGTH, trim_whitespace=False, validators=[USERNAME_VALIDATOR]
    )
    # the length rule of the password validators, so the schema documents it (they repeat it)
    password = StrictCharField(
        write_only=True,
        trim_whitespace=False,
        min_length=minimum_password_length(),
        max_length=PASSWORD_MAX_LENGTH,
    )


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    """``{"username", "password"}`` in; ``{"access", "refresh"}`` out."""

    # simplejwt's login with bounded strict inputs, and the password taken as sent: its own
    # password field trims whitespace, so a password registered with a leading or trailing
    # space (registration keeps it) could never log in.

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = StrictCharField(
            write_only=True, max_length=USERNAME_MAX_LENGTH
        )
        self.fields["password"] = StrictCharField(
            write_only=True,
            trim_whitespace=False,
            max_length=PASSWORD_MAX_LENGTH,
            style={"input_type": "password"},
        )


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """``{"refresh"}`` in; ``{"access"}`` out."""

    # simplejwt's refresh, with a bounded strict input

    refresh = StrictCharField(write_only=True, max_length=TOKEN_MAX_LENGTH)
