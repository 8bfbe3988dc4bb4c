"""Cached todo reads (``app.todos.response_cache``) over the test client.

The default cache here is this process's memory (one process: the per-worker copies that make
settings refuse it in production do not matter); the Redis cases use the test Redis (a TTL) or
an unreachable one (the bypass). Query counts are pinned: a hit and a 304 cost only the query
that authenticates the caller, which also reads the version of the caller's todos.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from app.todos import response_cache, services
from app.todos.models import Todo, TodoVersion
from tests.factories import TodoFactory, make_todos
from tests.support.backing_services import REDIS_URL, reachable, require
from tests.support.caches import resilient_cache
from tests.support.waiting import poll

pytestmark = pytest.mark.django_db

LIST_URL = "/api/todos/"
LIST_QUERY = {"ordering": "title", "completed": "false", "page_size": "5"}


@pytest.fixture(autouse=True)
def _cache_on(settings: Any) -> None:
    settings.RESPONSE_CACHE_SECONDS = 60


def detail_url(todo: Todo) -> str:
    return f"/api/todos/{todo.pk}/"


def read(client: APIClient, url: str, **headers: Any) -> Any:
    """GET ``url`` (the list with ``LIST_QUERY``) and return the response."""
    query = LIST_QUERY if url == LIST_URL else None
    return client.get(url, query, **headers)


def cache_result(response: Any) -> str | None:
    """What the access log line says about the cache for this response."""
    return getattr(response.wsgi_request, response_cache.RESULT_ATTRIBUTE, None)


def counted(view: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "todos_response_cache_requests_total", {"view": view, "result": result}
    )
    return value or 0.0


def authentication_only(queries: Any) -> None:
    """The one query of a hit or a 304: the user, joined with the version, no todo."""
    (query,) = [q["sql"] for q in queries.captured_queries]
    assert "auth_user" in query
    assert "todos_todoversion" in query
    assert 'todos_todo"' not in query.replace("todos_todoversion", "")


@pytest.fixture(params=["list", "detail"])
def url_of(request: pytest.FixtureRequest, alice: User) -> Callable[[], str]:
    """The list URL, or the URL of one of alice's todos (made on first use)."""
    made: list[Todo] = []

    def url() -> str:
        if request.param == "list":
            return LIST_URL
        if not made:
            made.append(TodoFactory.create(owner=alice, title="the one"))
        return detail_url(made[0])

    return url


# ------------------------------------------------------------------ hits and misses
def test_a_read_is_a_miss_then_a_hit_that_reads_no_todo(
    alice: User, alice_client: APIClient, url_of: Callable[[], str], django_assert_num_queries: Any
) -> None:
    make_todos(alice, 3)
    url = url_of()

    first = read(alice_client, url)
    with django_assert_num_queries(1) as queries:
        second = read(alice_client, url)

    authentication_only(queries)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (cache_result(first), cache_result(second)) == ("miss", "hit")
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert second["ETag"] == first["ETag"]


def test_every_read_carries_the_validator_and_caching_headers(
    alice_client: APIClient, url_of: Callable[[], str]
) -> None:
    url = url_of()
    for response in (read(alice_client, url), read(alice_client, url)):  # a miss, then a hit
        assert re.fullmatch(r'"[0-9a-f]{32}"', response["ETag"])
        assert response["Cache-Control"] == "private, no-cache"
        assert "Authorization" in response["Vary"]


def test_the_hits_and_misses_are_counted_by_view(
    alice: User, alice_client: APIClient, url_of: Callable[[], str]
) -> None:
    url = url_of()
    view = "todo-list" if url == LIST_URL else "todo-detail"
    before = {result: counted(view, result) for result in ("hit", "miss", "bypass")}

    for _ in range(3):
        read(alice_client, url)

    after = {result: counted(view, result) for result in ("hit", "miss", "bypass")}
    assert {r: after[r] - before[r] for r in after} == {"hit": 2, "miss": 1, "bypass": 0}


def test_the_query_is_normalised_but_every_parameter_counts(
    alice: User, alice_client: APIClient
) -> None:
    make_todos(alice, 2)
    alice_client.get("/api/todos/?ordering=title&completed=false")

    reordered = alice_client.get("/api/todos/?completed=false&ordering=title")
    other_page_size = alice_client.get("/api/todos/?completed=false&ordering=title&page_size=1")

    assert cache_result(reordered) == "hit"
    assert cache_result(other_page_size) == "miss"
    assert len(other_page_size.json()["results"]) == 1


def test_errors_are_neither_cached_nor_given_an_etag(alice_client: APIClient) -> None:
    for _ in range(2):
        response = alice_client.get(LIST_URL, {"ordering": "owner"})
        assert response.status_code == 400
        assert cache_result(response) == "miss"
        assert not response.has_header("ETag")
    assert alice_client.get("/api/todos/999999/").status_code == 404


# ------------------------------------------------------------------ conditional requests
def test_a_current_etag_is_a_304_that_reads_no_todo(
    alice: User, alice_client: APIClient, url_of: Callable[[], str], django_assert_num_queries: Any
) -> None:
    make_todos(alice, 2)
    url = url_of()
    etag = read(alice_client, url)["ETag"]
    cache.clear()  # a 304 needs no cached body either

    with django_assert_num_queries(1) as queries:
        response = read(alice_client, url, HTTP_IF_NONE_MATCH=etag)

    authentication_only(queries)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "private, no-cache"
    assert "Authorization" in response["Vary"]
    assert cache_result(response) == "304"


@pytest.mark.parametrize("header", ["W/{etag}", '"stale", {etag}'], ids=["weak", "in-a-list"])
def test_if_none_match_uses_the_weak_comparison(alice_client: APIClient, header: str) -> None:
    etag = alice_client.get(LIST_URL)["ETag"]

    response = alice_client.get(LIST_URL, HTTP_IF_NONE_MATCH=header.format(etag=etag))

    assert response.status_code == 304


def test_a_wildcard_is_no_match_so_a_missing_todo_stays_a_404(
    alice_client: APIClient, bob: User
) -> None:
    """The version cannot say whether a todo exists: ``*`` gets the ordinary answer."""
    foreign = TodoFactory.create(owner=bob)

    assert alice_client.get(detail_url(foreign), HTTP_IF_NONE_MATCH="*").status_code == 404
    assert alice_client.get(LIST_URL, HTTP_IF_NONE_MATCH="*").status_code == 200


def test_an_old_etag_gets_the_new_body(alice: User, alice_client: APIClient) -> None:
    etag = alice_client.get(LIST_URL)["ETag"]
    alice_client.post(LIST_URL, {"title": "new"}, format="json")

    response = alice_client.get(LIST_URL, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert [t["title"] for t in response.json()["results"]] == ["new"]


# ------------------------------------------------------------------ invalidation
def _create(client: APIClient, todo: Todo) -> Any:
    return client.post(LIST_URL, {"title": "added"}, format="json")


def _update(client: APIClient, todo: Todo) -> Any:
    return client.put(detail_url(todo), {"title": "renamed", "completed": False}, format="json")


def _complete(client: APIClient, todo: Todo) -> Any:
    return client.patch(detail_url(todo), {"completed": True}, format="json")


def _delete(client: APIClient, todo: Todo) -> Any:
    return client.delete(detail_url(todo))


@pytest.mark.parametrize("write", [_create, _update, _complete, _delete])
def test_every_write_is_seen_by_the_next_read(
    alice: User, alice_client: APIClient, url_of: Callable[[], str], write: Any
) -> None:
    url = url_of()
    todo = Todo.objects.filter(owner=alice).first() or TodoFactory.create(owner=alice)
    read(alice_client, url)
    cached = read(alice_client, url)
    assert cache_result(cached) == "hit"

    assert write(alice_client, todo).status_code in {200, 201, 204}
    after = read(alice_client, url)

    assert cache_result(after) == "miss"
    assert after.get("ETag") != cached["ETag"]
    rendered = alice_client.get(url, LIST_QUERY if url == LIST_URL else None)
    assert after.content == rendered.content  # what the database says now
    if url == LIST_URL:
        expected = Todo.objects.filter(owner=alice, completed=False).order_by("title")
        assert [t["title"] for t in after.json()["results"]] == [t.title for t in expected]
    elif write is _delete:
        assert after.status_code == 404
    else:
        assert after.json()["title"] == Todo.objects.get(pk=todo.pk).title


def test_an_unchanged_update_keeps_the_cached_reads(alice: User, alice_client: APIClient) -> None:
    todo = TodoFactory.create(owner=alice, title="same")
    alice_client.get(LIST_URL)

    alice_client.patch(detail_url(todo), {"title": "same"}, format="json")

    assert cache_result(alice_client.get(LIST_URL)) == "hit"


def test_a_write_through_the_admin_is_seen_by_the_next_read(
    alice: User, alice_client: APIClient, admin_client: Any
) -> None:
    todo = TodoFactory.create(owner=alice, title="before")
    alice_client.get(LIST_URL)
    form = {"owner": alice.pk, "title": "after", "completed": "on"}

    changed = admin_client.post(f"/admin/todos/todo/{todo.pk}/change/", form)

    assert changed.status_code == 302
    after = alice_client.get(LIST_URL)
    assert cache_result(after) == "miss"
    assert [t["title"] for t in after.json()["results"]] == ["after"]


def test_a_delete_through_the_admin_is_seen_by_the_next_read(
    alice: User, alice_client: APIClient, admin_client: Any
) -> None:
    kept, deleted = TodoFactory.create(owner=alice, title="kept"), TodoFactory.create(owner=alice)
    alice_client.get(LIST_URL)

    removed = admin_client.post(f"/admin/todos/todo/{deleted.pk}/delete/", {"post": "yes"})

    assert removed.status_code == 302
    after = alice_client.get(LIST_URL)
    assert cache_result(after) == "miss"
    assert [t["id"] for t in after.json()["results"]] == [kept.pk]


def test_a_bulk_delete_through_the_admin_is_seen_by_every_owners_next_read(
    alice: User, bob: User, alice_client: APIClient, bob_client: APIClient, admin_client: Any
) -> None:
    todos = [TodoFactory.create(owner=alice), TodoFactory.create(owner=bob)]
    alice_client.get(LIST_URL)
    bob_client.get(LIST_URL)
    action = {"action": "delete_selected", "post": "yes", "_selected_action": [t.pk for t in todos]}

    removed = admin_client.post("/admin/todos/todo/", action)

    assert removed.status_code == 302
    for client in (alice_client, bob_client):
        after = client.get(LIST_URL)
        assert cache_result(after) == "miss"
        assert after.json()["results"] == []


def test_the_version_only_goes_up_even_after_an_older_backup_is_restored(alice: User) -> None:
    services.todos_changed(owner_ids=[alice.pk])
    first = TodoVersion.objects.get(owner=alice).value
    services.todos_changed(owner_ids=[alice.pk])
    second = TodoVersion.objects.get(owner=alice).value
    TodoVersion.objects.filter(owner=alice).update(value=1)  # a restore of an old backup

    services.todos_changed(owner_ids=[alice.pk])

    assert first < second < TodoVersion.objects.get(owner=alice).value
    assert TodoVersion.objects.get(owner=alice).value > second  # never reissues a used value


# ------------------------------------------------------------------ isolation
def test_identical_reads_of_two_users_never_share_a_cached_page(
    alice: User, bob: User, alice_client: APIClient, bob_client: APIClient
) -> None:
    TodoFactory.create(owner=alice, title="alice's")
    TodoFactory.create(owner=bob, title="bob's")

    for _ in range(2):  # a miss then a hit, for each
        alice_page = read(alice_client, LIST_URL)
        bob_page = read(bob_client, LIST_URL)
        assert [t["title"] for t in alice_page.json()["results"]] == ["alice's"]
        assert [t["title"] for t in bob_page.json()["results"]] == ["bob's"]
    assert alice_page["ETag"] != bob_page["ETag"]
    assert (
        bob_client.get(LIST_URL, LIST_QUERY, HTTP_IF_NONE_MATCH=alice_page["ETag"]).status_code
        == 200
    )


def test_another_users_todo_stays_a_404_after_its_owner_read_it(
    alice: User, bob_client: APIClient, alice_client: APIClient
) -> None:
    todo = TodoFactory.create(owner=alice)
    alice_client.get(detail_url(todo))
    alice_client.get(detail_url(todo))

    assert bob_client.get(detail_url(todo)).status_code == 404


# ------------------------------------------------------------------ off, expiry, outage
def test_with_the_cache_off_reads_are_as_before(
    settings: Any, alice_client: APIClient, django_assert_num_queries: Any
) -> None:
    settings.RESPONSE_CACHE_SECONDS = 0
    alice_client.get(LIST_URL)

    with django_assert_num_queries(2):  # the user, the page count (no todos: no page query)
        response = alice_client.get(LIST_URL)

    assert cache_result(response) is None
    assert not response.has_header("ETag")


def test_a_cached_read_expires_after_response_cache_seconds(
    settings: Any, alice: User, alice_client: APIClient
) -> None:
    """In the test Redis, with a 1 s TTL: a hit at once, a miss once the entry expired."""
    require("redis", reachable(REDIS_URL, default_port=6379))
    redis = resilient_cache(settings, REDIS_URL)
    settings.RESPONSE_CACHE_SECONDS = 1
    make_todos(alice, 1)
    etag = alice_client.get(LIST_URL)["ETag"]
    key = response_cache.key_for(alice.pk, etag)
    assert redis.has_key(key)
    assert cache_result(alice_client.get(LIST_URL)) == "hit"

    poll(
        lambda: redis.has_key(key),
        lambda present: not present,
        timeout=3.0,
        interval=0.1,
        failure=lambda _: f"{key} still cached 3 s after a 1 s TTL",
    )

    assert cache_result(alice_client.get(LIST_URL)) == "miss"


def test_without_redis_reads_bypass_the_cache_and_stay_correct(
    redis_down: Any, alice: User, alice_client: APIClient
) -> None:
    make_todos(alice, 2)
    before = counted("todo-list", "bypass")

    first = alice_client.get(LIST_URL)
    alice_client.post(LIST_URL, {"title": "during"}, format="json")
    second = alice_client.get(LIST_URL)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (cache_result(first), cache_result(second)) == ("bypass", "bypass")
    assert counted("todo-list", "bypass") - before == 2
    assert len(second.json()["results"]) == 3
    # conditional requests need only the version, so they keep working without Redis
    assert alice_client.get(LIST_URL, HTTP_IF_NONE_MATCH=second["ETag"]).status_code == 304
