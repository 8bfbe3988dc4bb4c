"""Selectors: reads scoped to one owner."""

import pytest
from django.contrib.auth.models import User

from app.todos import selectors
from tests.factories import make_todos

pytestmark = pytest.mark.django_db


def test_todo_list_returns_only_the_owners_todos_newest_first(alice: User, bob: User) -> None:
    own = make_todos(alice, 3)
    make_todos(bob, 2)

    assert list(selectors.todo_list(owner=alice)) == list(reversed(own))


def test_todo_list_is_lazy_and_filterable(alice: User) -> None:
    make_todos(alice, 2, completed=True)
    make_todos(alice, 1, completed=False)

    assert selectors.todo_list(owner=alice).filter(completed=True).count() == 2
