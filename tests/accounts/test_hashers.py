"""Passwords: Argon2id at OWASP's parameters for new ones, PBKDF2 ones upgraded at login."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app import settings as project_settings
from app.accounts.hashers import Argon2idPasswordHasher

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-secret-pass"
OWASP_PARAMETERS = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture(autouse=True)
def _production_hashers(settings: Any) -> None:
    """The project's own hashers (tests elsewhere use MD5 for speed)."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def test_a_new_users_password_is_stored_as_argon2id_with_owasp_parameters(
    anon_client: APIClient,
) -> None:
    response = anon_client.post(
        "/api/auth/register/", {"username": "carol", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201
    stored = User.objects.get(username="carol").password
    assert stored.startswith("argon2" + OWASP_PARAMETERS), stored


def test_an_old_pbkdf2_hash_logs_in_and_is_rehashed_with_argon2id(
    anon_client: APIClient,
) -> None:
    old = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user = User.objects.create(username="dave", password=old)

    response = anon_client.post(
        "/api/auth/token/", {"username": "dave", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.password.startswith("argon2" + OWASP_PARAMETERS)
    assert user.check_password(PASSWORD)


def test_a_wrong_password_leaves_an_old_hash_alone(anon_client: APIClient) -> None:
    old = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user = User.objects.create(username="erin", password=old)

    response = anon_client.post(
        "/api/auth/token/", {"username": "erin", "password": "not-the-password"}, format="json"
    )

    assert response.status_code == 401
    user.refresh_from_db()
    assert user.password == old


def test_argon2_hashes_made_with_other_parameters_are_upgraded() -> None:
    """Django's default Argon2 parameters (100 MiB, 8 lanes) differ: such a hash must update."""
    hasher = Argon2idPasswordHasher()
    django_default = Argon2PasswordHasher()
    stronger = django_default.encode(PASSWORD, django_default.salt())

    assert hasher.verify(PASSWORD, stronger)
    assert hasher.must_update(stronger)
    assert not hasher.must_update(hasher.encode(PASSWORD, hasher.salt()))
