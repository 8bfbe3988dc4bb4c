"""The /api/todos/ endpoints over the test client: CRUD, ownership, listing and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from app.todos.models import Todo
from tests.factories import TodoFactory, make_todos

pytestmark = pytest.mark.django_db

LIST_URL = "/api/todos/"


def detail_url(todo_id: int | str) -> str:
    return f"/api/todos/{todo_id}/"


def snapshot() -> list[tuple[Any, ...]]:
    """Every todo as stored, to prove a refused request changed nothing."""
    return list(Todo.objects.order_by("id").values_list("id", "owner_id", "title", "completed"))


def send_changing_nothing(client: APIClient, owner: User, method: str, url_kind: str) -> Any:
    """Give ``owner`` a todo, send ``method`` with a small JSON body to the list URL or that
    todo's URL, check that the table is unchanged, and return the response."""
    todo = TodoFactory.create(owner=owner)
    before = snapshot()

    url = LIST_URL if url_kind == "list" else detail_url(todo.pk)
    response = getattr(client, method)(url, {"title": "x"}, format="json")

    assert snapshot() == before
    return response


# ------------------------------------------------------------------ CRUD


def test_it_creates_a_todo_owned_by_the_caller(alice: User, alice_client: APIClient) -> None:
    response = alice_client.post(LIST_URL, {"title": "  buy milk "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "title", "completed", "created_at", "updated_at"}
    assert (body["title"], body["completed"]) == ("buy milk", False)
    assert Todo.objects.get(pk=body["id"]).owner == alice


def test_it_retrieves_updates_and_deletes_an_own_todo(alice: User, alice_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice, title="draft")

    assert alice_client.get(detail_url(todo.pk)).json()["title"] == "draft"
    patched = alice_client.patch(detail_url(todo.pk), {"completed": True}, format="json")
    assert (patched.status_code, patched.json()["completed"]) == (200, True)
    put = alice_client.put(detail_url(todo.pk), {"title": "final"}, format="json")
    assert (put.status_code, put.json()["title"], put.json()["completed"]) == (200, "final", True)
    assert alice_client.delete(detail_url(todo.pk)).status_code == 204
    assert alice_client.get(detail_url(todo.pk)).status_code == 404


def test_put_requires_the_title(alice: User, alice_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice)

    response = alice_client.put(detail_url(todo.pk), {"completed": True}, format="json")

    assert response.status_code == 400
    assert "title" in response.json()


def test_read_only_fields_in_the_input_are_a_400_naming_them(
    alice: User, alice_client: APIClient
) -> None:
    todo = TodoFactory.create(owner=alice, title="before")
    response = alice_client.patch(
        detail_url(todo.pk),
        {"id": 999, "created_at": "2000-01-01T00:00:00Z", "title": "after"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "id": ["Read-only field."],
        "created_at": ["Read-only field."],
    }
    todo.refresh_from_db()
    assert todo.title == "before"


# ------------------------------------------------------------------ ownership


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("get", None),
        ("put", {"title": "stolen", "completed": True}),
        ("patch", {"completed": True}),
        ("delete", None),
    ],
)
def test_bob_gets_404_on_alices_todo_and_nothing_changes(
    alice: User, bob_client: APIClient, method: str, payload: dict[str, Any] | None
) -> None:
    todo = TodoFactory.create(owner=alice, title="alice's")
    before = snapshot()

    response = getattr(bob_client, method)(detail_url(todo.pk), payload, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Todo matches the given query."}
    assert snapshot() == before


def test_a_missing_todo_and_someone_elses_look_the_same(alice: User, bob_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice)
    missing = bob_client.get(detail_url(todo.pk + 1000))

    foreign = bob_client.get(detail_url(todo.pk))

    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


def test_the_list_shows_only_the_callers_todos(
    alice: User, bob: User, bob_client: APIClient
) -> None:
    make_todos(alice, 3)
    own = make_todos(bob, 2)

    body = bob_client.get(LIST_URL).json()

    assert body["count"] == 2
    assert {item["id"] for item in body["results"]} == {todo.pk for todo in own}


@pytest.mark.parametrize(
    ("method", "url_kind"),
    [
        ("get", "list"),
        ("post", "list"),
        ("get", "detail"),
        ("put", "detail"),
        ("patch", "detail"),
        ("delete", "detail"),
    ],
)
def test_every_todo_endpoint_needs_a_bearer_token(
    alice: User, anon_client: APIClient, method: str, url_kind: str
) -> None:
    response = send_changing_nothing(anon_client, alice, method, url_kind)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


# ------------------------------------------------------------------ listing


def test_the_list_is_paginated_20_per_page_by_default(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 25)

    first = alice_client.get(LIST_URL).json()
    second = alice_client.get(LIST_URL, {"page": 2}).json()

    assert (first["count"], len(first["results"]), len(second["results"])) == (25, 20, 5)
    assert first["next"].endswith("page=2")
    assert second["next"] is None


def test_page_size_is_chosen_by_the_client_up_to_100(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 105)

    assert len(alice_client.get(LIST_URL, {"page_size": 5}).json()["results"]) == 5
    assert len(alice_client.get(LIST_URL, {"page_size": 1000}).json()["results"]) == 100


def test_a_page_past_the_end_is_404(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 3)

    assert alice_client.get(LIST_URL, {"page": 2}).status_code == 404


def test_the_default_order_is_newest_first_and_stable(alice: User, alice_client: APIClient) -> None:
    todos = make_todos(alice, 30)
    Todo.objects.update(created_at=todos[0].created_at)  # force ties on created_at

    pages = [alice_client.get(LIST_URL, {"page": n}).json()["results"] for n in (1, 2)]

    ids = [item["id"] for page in pages for item in page]
    assert ids == sorted((todo.pk for todo in todos), reverse=True)


def test_it_filters_by_completed(alice: User, alice_client: APIClient) -> None:
    done = make_todos(alice, 2, completed=True)
    make_todos(alice, 3, completed=False)

    body = alice_client.get(LIST_URL, {"completed": "true"}).json()

    assert {item["id"] for item in body["results"]} == {todo.pk for todo in done}
    assert alice_client.get(LIST_URL, {"completed": "false"}).json()["count"] == 3


@pytest.mark.parametrize("value", ["maybe", "True", "1", " ", ""])
def test_an_invalid_completed_filter_is_a_400_the_empty_one_too(
    alice: User, alice_client: APIClient, value: str
) -> None:
    response = alice_client.get(f"{LIST_URL}?completed={value}")

    assert response.status_code == 400
    (message,) = response.json()["completed"]
    assert "valid choice" in message


@pytest.mark.parametrize("name", ["page", "page_size"])
@pytest.mark.parametrize("value", ["", "%20", "0", "-1", "abc", "1.5", "last", "%EF%BC%91"])
def test_a_page_or_page_size_that_is_not_a_positive_integer_is_a_400(
    alice: User, alice_client: APIClient, name: str, value: str
) -> None:
    make_todos(alice, 3)

    response = alice_client.get(f"{LIST_URL}?{name}={value}")

    assert response.status_code == 400
    assert response.json() == {name: ["A positive integer is required."]}


@pytest.mark.parametrize(("name", "limit"), [("search", 200), ("ordering", 100)])
def test_search_and_ordering_are_refused_over_their_maximum_length(
    alice: User, alice_client: APIClient, name: str, limit: int
) -> None:
    TodoFactory.create(owner=alice, title="created_at")
    # the longest values still accepted: a search matching that title, nine sort keys
    at_limit = {
        "search": " ".join(["created_at"] * 18) + " cr",
        "ordering": ",".join(["-created_at"] * 2 + ["created_at"] * 7),
    }[name]
    assert len(at_limit) == limit

    accepted = alice_client.get(LIST_URL, {name: at_limit})
    refused = alice_client.get(LIST_URL, {name: at_limit + "t"})

    assert (accepted.status_code, accepted.json()["count"]) == (200, 1)
    assert refused.status_code == 400
    assert refused.json() == {name: [f"Ensure this field has no more than {limit} characters."]}


def test_an_empty_search_is_no_filter(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 3)

    assert alice_client.get(f"{LIST_URL}?search=").json()["count"] == 3


def test_it_searches_titles_case_insensitively(alice: User, alice_client: APIClient) -> None:
    TodoFactory.create(owner=alice, title="Buy MILK")
    TodoFactory.create(owner=alice, title="walk the dog")

    body = alice_client.get(LIST_URL, {"search": "milk"}).json()

    assert [item["title"] for item in body["results"]] == ["Buy MILK"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("title", ["a", "b", "c"]),
        ("-title", ["c", "b", "a"]),
        ("created_at", ["b", "c", "a"]),
        ("-created_at", ["a", "c", "b"]),
    ],
)
def test_it_orders_by_the_requested_field(
    alice: User, alice_client: APIClient, ordering: str, expected: list[str]
) -> None:
    for title in ["b", "c", "a"]:
        TodoFactory.create(owner=alice, title=title)

    body = alice_client.get(LIST_URL, {"ordering": ordering}).json()

    assert [item["title"] for item in body["results"]] == expected


@pytest.mark.parametrize(
    "ordering", ["owner__password", "title,nope", "title,", " title", "title, -created_at"]
)
def test_an_unknown_ordering_is_a_400_listing_the_allowed_keys(
    alice: User, alice_client: APIClient, ordering: str
) -> None:
    make_todos(alice, 3)

    response = alice_client.get(LIST_URL, {"ordering": ordering})

    assert response.status_code == 400
    (message,) = response.json()["ordering"]
    assert "allowed: created_at, -created_at, updated_at, -updated_at, title, -title" in message


def test_an_empty_ordering_is_the_default_order(alice: User, alice_client: APIClient) -> None:
    todos = make_todos(alice, 3)

    body = alice_client.get(LIST_URL, {"ordering": ""}).json()

    assert [item["id"] for item in body["results"]] == [t.pk for t in reversed(todos)]


def test_several_known_sort_keys_are_accepted(alice: User, alice_client: APIClient) -> None:
    make_todos(alice, 3)

    response = alice_client.get(LIST_URL, {"ordering": "-title,created_at"})

    assert response.status_code == 200
    titles = [item["title"] for item in response.json()["results"]]
    assert titles == sorted(titles, reverse=True)


@pytest.mark.parametrize("count", [1, 50])
def test_the_list_costs_three_queries_whatever_the_page_holds(
    alice: User, alice_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    make_todos(alice, count)

    # the user behind the token, the page count, the page itself
    with django_assert_num_queries(3):
        response = alice_client.get(LIST_URL, {"page_size": 100})

    assert len(response.json()["results"]) == count


# ------------------------------------------------------------------ bad input


def post_raw(client: Any, url: str, body: bytes, content_type: str) -> Any:
    return client.generic("POST", url, body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"title": "unterminated', "application/json", 400),
        (b"title=form+post", "application/x-www-form-urlencoded", 415),
        (b"<todo/>", "application/xml", 415),
        (b'{"title": "\xff\xfe invalid utf-8"}', "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b'["a list", "not an object"]', "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"title": NaN}', "application/json", 400),
    ],
)
def test_malformed_bodies_get_a_4xx_json_error_and_change_nothing(
    alice: User, alice_client: APIClient, body: bytes, content_type: str, status: int
) -> None:
    TodoFactory.create(owner=alice)
    before = snapshot()

    response = post_raw(alice_client, LIST_URL, body, content_type)

    assert response.status_code == status
    assert "detail" in response.json() or "non_field_errors" in response.json()
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"title": None}, "title"),
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "completed": "yes"}, "completed"),
        ({"title": "ok", "completed": 1}, "completed"),
        ({"title": "ok", "owner": 1}, "owner"),
        ({"title": "ok", "priority": "high"}, "priority"),
    ],
)
def test_invalid_fields_get_field_errors_and_create_nothing(
    alice_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    response = alice_client.post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Todo.objects.exists()


def test_a_100_character_title_is_accepted(alice_client: APIClient) -> None:
    response = alice_client.post(LIST_URL, {"title": "x" * 100}, format="json")

    assert response.status_code == 201


def test_the_maximum_length_applies_to_the_title_as_sent(alice_client: APIClient) -> None:
    """The schema's maxLength reads the raw string: 100 characters after trimming is not
    enough when the spaces around them make it longer."""
    response = alice_client.post(LIST_URL, {"title": f"  {'x' * 99}  "}, format="json")

    assert response.status_code == 400
    assert response.json() == {"title": ["Ensure this field has no more than 100 characters."]}
    assert not Todo.objects.exists()


def test_an_oversized_body_is_refused_with_413(alice_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = b'{"title": "' + b"x" * 2048 + b'"}'

    response = post_raw(alice_client, LIST_URL, body, "application/json")

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large."}
    assert not Todo.objects.exists()


def test_invalid_updates_change_nothing(alice: User, alice_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice, title="keep me")
    before = snapshot()

    for payload in ({"title": ""}, {"completed": "no"}, {"colour": "red"}):
        response = alice_client.patch(detail_url(todo.pk), payload, format="json")
        assert response.status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize("todo_id", ["abc", "1.5", "-1", "99999999999999999999999999"])
def test_non_numeric_and_out_of_range_ids_are_404_json(
    alice_client: APIClient, todo_id: str
) -> None:
    response = alice_client.get(detail_url(todo_id))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_an_unknown_id_is_404(alice_client: APIClient) -> None:
    assert alice_client.get(detail_url(123456)).status_code == 404


@pytest.mark.parametrize(
    ("method", "url_kind"),
    [("put", "list"), ("patch", "list"), ("delete", "list"), ("post", "detail")],
)
def test_unsupported_methods_are_405(
    alice: User, alice_client: APIClient, method: str, url_kind: str
) -> None:
    response = send_changing_nothing(alice_client, alice, method, url_kind)

    assert response.status_code == 405
    assert "detail" in response.json()
