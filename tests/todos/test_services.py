"""Services: the only writers of todos."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from app.todos import services
from app.todos.models import Todo
from tests.factories import TodoFactory

pytestmark = pytest.mark.django_db


def test_todo_create_trims_the_title_and_stores_the_owner(alice: User) -> None:
    todo = services.todo_create(owner=alice, title="  buy milk  ")

    todo.refresh_from_db()
    assert (todo.title, todo.owner, todo.completed) == ("buy milk", alice, False)


def test_todo_create_refuses_a_blank_title(alice: User) -> None:
    with pytest.raises(ValidationError):
        services.todo_create(owner=alice, title="   ")

    assert not Todo.objects.exists()


def test_todo_create_refuses_a_title_over_100_characters(alice: User) -> None:
    with pytest.raises(ValidationError):
        services.todo_create(owner=alice, title="x" * 101)

    assert not Todo.objects.exists()


def test_todo_update_changes_only_the_given_fields(alice: User) -> None:
    todo = TodoFactory.create(owner=alice, title="old", completed=False)

    services.todo_update(todo=todo, data={"completed": True})

    todo.refresh_from_db()
    assert (todo.title, todo.completed) == ("old", True)


def test_todo_update_moves_updated_at_forward(alice: User) -> None:
    todo = TodoFactory.create(owner=alice)
    before = todo.updated_at

    services.todo_update(todo=todo, data={"title": "new"})

    todo.refresh_from_db()
    assert todo.updated_at > before


def test_todo_update_without_changes_keeps_updated_at(alice: User) -> None:
    todo = TodoFactory.create(owner=alice, title="same")
    before = todo.updated_at

    services.todo_update(todo=todo, data={"title": " same "})

    todo.refresh_from_db()
    assert todo.updated_at == before


def test_todo_update_refuses_fields_it_does_not_own(alice: User) -> None:
    todo = TodoFactory.create(owner=alice)

    with pytest.raises(ValueError, match="owner"):
        services.todo_update(todo=todo, data={"owner": alice})


def test_todo_delete_removes_the_todo(alice: User) -> None:
    todo = TodoFactory.create(owner=alice)

    services.todo_delete(todo=todo)

    assert not Todo.objects.filter(pk=todo.pk).exists()


@pytest.mark.django_db(transaction=True)  # the write's own transaction, as in a request
def test_a_write_raises_the_version_without_a_savepoint(alice: User) -> None:
    services.todo_create(owner=alice, title="first")  # creates the owner's version row
    with CaptureQueriesContext(connection) as captured:
        services.todo_create(owner=alice, title="second")
    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    assert "SAVEPOINT" not in statements, statements
    assert statements.count("INSERT") == 1
    assert statements.count("UPDATE") == 1


def test_a_failed_version_raise_undoes_the_write(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(owner_id: int, now_us: int) -> int:
        raise DatabaseError("version table unavailable")

    monkeypatch.setattr(services, "_raise_version", fail)
    with pytest.raises(DatabaseError):
        services.todo_create(owner=alice, title="kept?")
    assert not Todo.objects.filter(owner=alice, title="kept?").exists()
