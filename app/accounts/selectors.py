"""Reads of user accounts."""

from django.contrib.auth import get_user_model


def user_username_taken(*, username: str) -> bool:
    """Whether an account already has ``username``, compared as the model's unique constraint
    compares it (exactly: Django's ``User.username`` is case-sensitive)."""
    return get_user_model().objects.filter(username=username).exists()
