"""The GraphQL endpoint over the test client: CRUD, ownership, validation, paging, errors."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app.todos.models import Todo
from tests.factories import TodoFactory, make_todos
from tests.support.graphql import (
    COMPLETE,
    CREATE,
    DELETE,
    TODO,
    TODO_LIST,
    UPDATE,
    codes,
    post,
)

pytestmark = pytest.mark.django_db


def test_it_creates_lists_updates_completes_and_deletes_a_todo(alice_client: APIClient) -> None:
    created = post(alice_client, CREATE, {"title": "  buy milk  "})
    assert created.status_code == 200, created.content
    todo = created.json()["data"]["createTodo"]
    assert todo["title"] == "buy milk"
    assert todo["completed"] is False

    listed = post(alice_client, TODO_LIST).json()["data"]["todos"]
    assert listed["totalCount"] == 1
    assert [item["id"] for item in listed["items"]] == [todo["id"]]

    updated = post(alice_client, UPDATE, {"id": todo["id"], "input": {"title": "buy oat milk"}})
    assert updated.json()["data"]["updateTodo"]["title"] == "buy oat milk"
    completed = post(alice_client, COMPLETE, {"id": todo["id"]}).json()["data"]["completeTodo"]
    assert completed["completed"] is True
    assert post(alice_client, TODO, {"id": todo["id"]}).json()["data"]["todo"] == completed

    deleted = post(alice_client, DELETE, {"id": todo["id"]}).json()
    assert deleted == {"data": {"deleteTodo": todo["id"]}}
    assert not Todo.objects.exists()


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (TODO, {}, "todo"),
        (UPDATE, {"input": {"title": "mine now"}}, "updateTodo"),
        (COMPLETE, {}, "completeTodo"),
        (DELETE, {}, "deleteTodo"),
    ],
    ids=["todo", "updateTodo", "completeTodo", "deleteTodo"],
)
def test_someone_elses_todo_is_not_found_like_a_missing_one(
    alice: User, bob_client: APIClient, query: str, variables: dict[str, object], field: str
) -> None:
    todo = TodoFactory.create(owner=alice, title="alice's")
    foreign = post(bob_client, query, {**variables, "id": str(todo.pk)}).json()
    missing = post(bob_client, query, {**variables, "id": str(todo.pk + 1000)}).json()

    assert foreign == missing
    assert foreign["data"] == {field: None}
    assert codes(foreign) == ["NOT_FOUND"]
    assert Todo.objects.get().title == "alice's"
    assert not Todo.objects.get().completed


@pytest.mark.parametrize("todo_id", ["abc", "0", "-1", "99999999999999999999999", "1.0"])
def test_ids_that_cannot_exist_are_not_found(alice_client: APIClient, todo_id: str) -> None:
    assert codes(post(alice_client, TODO, {"id": todo_id}).json()) == ["NOT_FOUND"]


def test_the_list_shows_only_the_callers_todos(alice: User, bob: User) -> None:
    make_todos(alice, 2)
    make_todos(bob, 3)
    from tests.support.api_clients import client_for  # noqa: PLC0415

    page = post(client_for(bob), TODO_LIST).json()["data"]["todos"]
    assert page["totalCount"] == 3


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "This field may not be blank."),
        ("   ", "This field may not be blank."),
        ("x" * 101, "Ensure this field has no more than 100 characters."),
        ("nul\x00", "Null characters are not allowed."),
    ],
    ids=["empty", "blank", "too-long", "nul"],
)
def test_invalid_titles_are_bad_user_input_with_the_rest_field_errors(
    alice_client: APIClient, title: str, message: str
) -> None:
    answer = post(alice_client, CREATE, {"title": title}).json()

    assert answer["data"] == {"createTodo": None}
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert answer["errors"][0]["extensions"]["fieldErrors"] == {"title": [message]}
    assert not Todo.objects.exists()


def test_a_title_of_100_characters_padded_with_spaces_is_refused_as_rest_does(
    alice_client: APIClient,
) -> None:
    answer = post(alice_client, CREATE, {"title": "  " + "x" * 99}).json()
    assert codes(answer) == ["BAD_USER_INPUT"]


def test_a_null_title_in_an_update_is_refused(alice: User, alice_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice, title="keep")
    answer = post(alice_client, UPDATE, {"id": str(todo.pk), "input": {"title": None}}).json()
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert Todo.objects.get().title == "keep"


def test_filters_search_ordering_and_pages_behave_like_the_rest_list(
    alice: User, alice_client: APIClient
) -> None:
    for title, completed in [("b milk", False), ("a milk", True), ("c bread", False)]:
        TodoFactory.create(owner=alice, title=title, completed=completed)

    def titles(**variables: object) -> list[str]:
        page = post(alice_client, TODO_LIST, variables).json()["data"]["todos"]
        return [item["title"] for item in page["items"]]

    assert titles() == ["c bread", "a milk", "b milk"]  # newest first
    assert titles(completed=False, ordering=["TITLE"]) == ["b milk", "c bread"]
    assert titles(search="MILK", ordering=["TITLE_DESC"]) == ["b milk", "a milk"]
    assert titles(search="milk b") == ["b milk"]
    second = post(alice_client, TODO_LIST, {"page": 2, "pageSize": 2}).json()["data"]["todos"]
    assert second == {**second, "totalCount": 3, "page": 2, "pageSize": 2, "hasNextPage": False}
    assert [item["title"] for item in second["items"]] == ["b milk"]


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"page": 0}, "BAD_USER_INPUT"),
        ({"pageSize": 0}, "BAD_USER_INPUT"),
        ({"search": "x" * 201}, "BAD_USER_INPUT"),
        ({"search": "a\x00"}, "BAD_USER_INPUT"),
        ({"page": 9}, "NOT_FOUND"),
        ({"ordering": ["OWNER"]}, "BAD_USER_INPUT"),
        ({"page": "one"}, "BAD_USER_INPUT"),
    ],
)
def test_refused_list_arguments_have_their_code(
    alice_client: APIClient, variables: dict[str, object], code: str
) -> None:
    answer = post(alice_client, TODO_LIST, variables)
    assert answer.status_code == 200
    assert codes(answer.json()) == [code]


def test_page_size_is_capped_at_100_like_rest(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 101)
    page = post(alice_client, TODO_LIST, {"pageSize": 500}).json()["data"]["todos"]
    assert (page["pageSize"], len(page["items"]), page["hasNextPage"]) == (100, 100, True)


def test_the_list_costs_a_constant_number_of_queries(
    alice: User, alice_client: APIClient, django_assert_num_queries: object
) -> None:
    """The authenticating user (with the todo version joined), the count, the page."""
    for count in (1, 20):
        Todo.objects.all().delete()
        make_todos(alice, count)
        with django_assert_num_queries(3):  # type: ignore[operator]
            answer = post(alice_client, TODO_LIST)
        assert len(answer.json()["data"]["todos"]["items"]) == count
