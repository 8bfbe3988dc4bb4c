"""DRF test clients authenticated as a given user, for the in-process API tests."""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken


def client_for(user: User | None) -> APIClient:
    """An API client sending a valid bearer token for ``user`` (none for ``None``)."""
    client = APIClient()
    if user is not None:
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
