"""A client generated from the live schema (openapi-python-client) drives the whole API.

The package is generated from gunicorn's own ``/api/schema/`` (3 workers, fresh database)
into a temporary directory and imported; it runs with ``raise_on_unexpected_status``, so an
undocumented status fails, and every body is parsed by the generated models, so a required
key the server leaves out or a wrong type fails too. Errors are parsed into the documented
models (``Error``, ``FieldErrors``).
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support import generated_client
from tests.support.prometheus import wait_for_workers
from tests.support.servers import Server, run_server_on_new_database

pytestmark = pytest.mark.e2e

WORKERS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("generated-client-server")
    with run_server_on_new_database({"WEB_CONCURRENCY": str(WORKERS)}, directory=directory) as srv:
        wait_for_workers(srv, WORKERS)
        yield srv


@pytest.fixture(scope="module")
def api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, with its ``api`` and ``models`` subpackages loaded."""
    root = generated_client.generate(server, tmp_path_factory.mktemp("generated-client"))
    with generated_client.imported(root) as package:
        for name in ("api.auth", "api.todos", "api.probes", "models"):
            __import__(f"{package.__name__}.{name}")
        yield package


def operation(api: ModuleType, tag: str, operation_id: str) -> Any:
    """The generated module of one operation (``sync_detailed``, ``sync``...)."""
    return __import__(f"{api.__name__}.api.{tag}.{operation_id}", fromlist=["sync"])


def accepts_an_anonymous_client(api: ModuleType, tag: str, operation_id: str) -> bool:
    """Whether the generated function's ``client`` may be a plain (unauthenticated) Client."""
    hints = typing.get_type_hints(operation(api, tag, operation_id).sync_detailed)
    return api.Client in typing.get_args(hints["client"]) or hints["client"] is api.Client


def test_generated_clients_call_anonymous_operations_without_credentials(api: ModuleType) -> None:
    anonymous = [
        ("auth", "auth_register_create"),
        ("auth", "auth_token_create"),
        ("auth", "auth_token_refresh_create"),
        ("probes", "healthz_retrieve"),
        ("probes", "readyz_retrieve"),
    ]
    protected = [("todos", "todos_list"), ("todos", "todos_create"), ("faults", "faults_update")]

    assert all(accepts_an_anonymous_client(api, *op) for op in anonymous)
    assert not any(accepts_an_anonymous_client(api, *op) for op in protected)


def test_a_generated_client_walks_the_whole_api(server: Server, api: ModuleType) -> None:
    models = api.models
    anonymous = api.Client(base_url=server.url, raise_on_unexpected_status=True, timeout=15.0)

    def call(tag: str, operation_id: str, **kwargs: Any) -> Any:
        return operation(api, tag, operation_id).sync_detailed(**kwargs)

    # probes
    assert call("probes", "healthz_retrieve", client=anonymous).parsed.status.value == "ok"
    ready = call("probes", "readyz_retrieve", client=anonymous)
    assert (ready.status_code, ready.parsed.status.value) == (200, "ok")

    # register, token, refresh
    username, password = f"gen-{secrets.token_hex(4)}", f"pw {secrets.token_urlsafe(12)} "
    registered = call(
        "auth",
        "auth_register_create",
        client=anonymous,
        body=models.RegisterRequest(username=username, password=password),
    )
    assert registered.status_code == 201
    assert isinstance(registered.parsed, models.Register)
    assert registered.parsed.username == username
    pair = call(
        "auth",
        "auth_token_create",
        client=anonymous,
        body=models.TokenObtainPairRequest(username=username, password=password),
    ).parsed
    assert isinstance(pair, models.TokenObtainPair)
    refreshed = call(
        "auth",
        "auth_token_refresh_create",
        client=anonymous,
        body=models.TokenRefreshRequest(refresh=pair.refresh),
    ).parsed
    assert isinstance(refreshed, models.TokenRefresh)
    user = api.AuthenticatedClient(
        base_url=server.url, token=refreshed.access, raise_on_unexpected_status=True, timeout=15.0
    )

    # create
    created = {
        title: call(
            "todos",
            "todos_create",
            client=user,
            body=models.TodoRequest(title=title, completed=title.startswith("done")),
        )
        for title in ["buy milk", "walk the dog", "done: write report", "buy bread"]
    }
    assert {response.status_code for response in created.values()} == {201}
    todos = {title: response.parsed for title, response in created.items()}
    assert all(isinstance(todo, models.Todo) for todo in todos.values())
    assert todos["done: write report"].completed is True

    # list: filters, search, ordering, pages
    page_1 = call(
        "todos",
        "todos_list",
        client=user,
        completed=False,
        search="buy",
        ordering="-title",
        page_size=1,
    ).parsed
    assert isinstance(page_1, models.PaginatedTodoList)
    assert (page_1.count, [todo.title for todo in page_1.results]) == (2, ["buy milk"])
    assert page_1.previous is None
    assert page_1.next_ is not None  # `next` shadows a builtin: the generator adds `_`
    page_2 = call(
        "todos",
        "todos_list",
        client=user,
        completed=False,
        search="buy",
        ordering="-title",
        page_size=1,
        page=2,
    ).parsed
    assert ([todo.title for todo in page_2.results], page_2.next_) == (["buy bread"], None)
    everything = call("todos", "todos_list", client=user, ordering="title").parsed
    assert [todo.title for todo in everything.results] == sorted(todos)

    # retrieve, replace, complete, delete
    milk = todos["buy milk"]
    fetched = call("todos", "todos_retrieve", client=user, id=milk.id).parsed
    assert (fetched.id, fetched.title, fetched.completed) == (milk.id, "buy milk", False)
    replaced = call(
        "todos",
        "todos_update",
        client=user,
        id=milk.id,
        body=models.TodoRequest(title="buy oat milk"),
    ).parsed
    assert (replaced.title, replaced.completed) == ("buy oat milk", False)
    completed = call(
        "todos",
        "todos_partial_update",
        client=user,
        id=milk.id,
        body=models.PatchedTodoRequest(completed=True),
    ).parsed
    assert (completed.title, completed.completed) == ("buy oat milk", True)
    assert completed.updated_at >= milk.updated_at
    deleted = call("todos", "todos_destroy", client=user, id=milk.id)
    assert deleted.status_code == 204

    # errors, parsed into the documented models
    missing = call("todos", "todos_retrieve", client=user, id=milk.id)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Error)
    assert missing.parsed.detail
    blank = call("todos", "todos_create", client=user, body=models.TodoRequest(title="\ufeff "))
    assert blank.status_code == 400
    assert isinstance(blank.parsed, models.FieldErrors)
    assert blank.parsed["title"] == ["This field may not be blank."]
    bad_page = call("todos", "todos_list", client=user, page=0)
    assert bad_page.status_code == 400
    assert bad_page.parsed.additional_keys == ["page"]
    unauthenticated = call("todos", "todos_list", client=anonymous)
    assert unauthenticated.status_code == 401
    assert isinstance(unauthenticated.parsed, models.Error)
