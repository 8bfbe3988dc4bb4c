"""factory_boy factories for users and todos."""

from typing import Any

import factory.declarations
import factory.django
from django.contrib.auth.models import User

from app.todos.models import Todo

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    """A user whose password is ``DEFAULT_PASSWORD``."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.declarations.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(DEFAULT_PASSWORD)


class TodoFactory(factory.django.DjangoModelFactory[Todo]):
    """A todo owned by a fresh user unless ``owner`` is given."""

    class Meta:
        model = Todo

    owner = factory.declarations.SubFactory(UserFactory)
    title = factory.declarations.Sequence(lambda n: f"todo {n}")
    completed = False


def make_todos(owner: User, count: int, **fields: Any) -> list[Todo]:
    """Create ``count`` todos for ``owner``."""
    return TodoFactory.create_batch(count, owner=owner, **fields)
