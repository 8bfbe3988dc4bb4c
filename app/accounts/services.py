"""Writes to user accounts."""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

DUPLICATE_USERNAME = "A user with that username already exists."


def user_create(*, username: str, password: str) -> AbstractBaseUser:
    """Register a user; password validators apply; a taken username is a ValidationError."""
    user_model = get_user_model()
    user = user_model(username=username)
    user.full_clean(exclude=["password"], validate_unique=False)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
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
