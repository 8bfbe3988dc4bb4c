"""``manage.py ensure_demo_user`` in process (through the real server: tests/e2e, tests/jobs)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.factories import DEFAULT_PASSWORD

OTHER_PASSWORD = DEFAULT_PASSWORD.upper()


def ensure(*args: str) -> str:
    out = StringIO()
    call_command("ensure_demo_user", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_the_user_once_and_prints_a_token_recipe_for_it() -> None:
    first = ensure("--username", "carol", "--password", DEFAULT_PASSWORD)

    assert "Demo user 'carol' created." in first
    assert f'"username": "carol", "password": "{DEFAULT_PASSWORD}"' in first
    assert User.objects.get(username="carol").check_password(DEFAULT_PASSWORD)


@pytest.mark.django_db
def test_a_second_run_keeps_the_existing_user_and_its_password() -> None:
    ensure("--username", "carol", "--password", DEFAULT_PASSWORD)

    again = ensure("--username", "carol", "--password", OTHER_PASSWORD, "--staff")

    assert "already exists (password unchanged)" in again
    carol = User.objects.get(username="carol")
    assert carol.check_password(DEFAULT_PASSWORD)
    assert not carol.is_staff


@pytest.mark.django_db
def test_staff_makes_an_admin() -> None:
    ensure("--username", "dave", "--password", DEFAULT_PASSWORD, "--staff")

    dave = User.objects.get(username="dave")
    assert (dave.is_staff, dave.is_superuser) == (True, True)
