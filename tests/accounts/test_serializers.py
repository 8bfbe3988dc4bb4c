"""The registration serializer's limits come from the settings' password validators."""

from __future__ import annotations

from typing import Any

import pytest

from app.accounts.serializers import minimum_password_length

pytestmark = pytest.mark.database_free


def test_the_minimum_length_is_the_validators_one(settings: Any) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 12},
        },
    ]

    assert minimum_password_length() == 12


def test_without_a_length_validator_any_non_empty_password_is_long_enough(settings: Any) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"}
    ]

    assert minimum_password_length() == 1
