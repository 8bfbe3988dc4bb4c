"""Writes to user accounts."""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from app.accounts.selectors import user_username_taken

DUPLICATE_USERNAME = "A user with that username already exists."


def user_create(*, username: str, password: str) -> AbstractBaseUser:
    """Register a user; password validators apply; a taken username is a ValidationError.

    A taken name is found by a read before the insert, not by the unique constraint failing:
    a refused insert is a database error (``django_db_errors_total``, the django-mixin's
    ``DjangoDatabaseException``), and an ordinary taken name is no such thing. The constraint
    still decides a race between two registrations of one name, with the same answer.
    """
    user_model = get_user_model()
    user = user_model(username=username)
    user.full_clean(exclude=["password"], validate_unique=False)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    if user_username_taken(username=username):
        raise ValidationError({"username": [DUPLICATE_USERNAME]})
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent registration took the name
        raise ValidationError({"username": [DUPLICATE_USERNAME]}) from None
    return user


def user_ensure(
    *, username: str, password: str, staff: bool = False
) -> tuple[AbstractBaseUser, bool]:
    """Return the user named ``username``, creating it with ``password`` if missing."""
    user_model = get_user_model()
    existing = user_model.objects.filter(username=username).first()
    if existing is not None:
        return existing, False
    user = user_model(username=username, is_staff=staff, is_superuser=staff)
    user.set_password(password)
    user.save()
    return user, True
