"""The simulated API client: one account from the pool, a JWT, a weighted mix on its todos.

``FastHttpUser`` (geventhttpclient) rather than ``HttpUser`` (requests): measured here it
drives about 3x the requests per core, so one load-generator core is not the bottleneck of a
run against a server on the same machine.

A share of the users (``LOAD_CONDITIONAL_SHARE``, 0.3) revalidate: their reads send
``If-None-Match`` with the ``ETag`` they got for that path, and a ``304 Not Modified`` (a
success) reuses the copy they kept, as a polling dashboard or a mobile client would.

Each action is one request named by its route template, so Locust's statistics group by
endpoint the way the service's metrics and spans do (``/api/todos/{id}/``); list variants add
their query parameter (``/api/todos/?search={term}``) and keep the template visible.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Unpack

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser

from loadtests import graphql
from loadtests.accounts import Account, AccountPool, SetupError, run_id_for
from loadtests.calls import Reply, RequestOptions, call
from loadtests.exports import FORMATS, ExportJob
from loadtests.mixes import MIXES, Action, Mix
from loadtests.options import LoadOptions, load_options

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:8000"
PAGE_SIZE = 20  # the API's default page size
TODO_CAP = 200  # above this many todos in an account, a create becomes a delete
KNOWN_IDS_CAP = 200  # ids a user remembers
KEPT_COPIES_CAP = 300  # paths a revalidating user keeps a copy (and its ETag) of
WORDS = ("milk", "report", "invoice", "garden", "dentist", "tickets", "review", "backup")

_pools: dict[str, AccountPool] = {}  # one pool per target host, per process


def pool_size(options: LoadOptions) -> int:
    """``LOAD_ACCOUNTS``, but no more accounts than the run has users (-u): each account costs
    about half a second of setup before the mix starts, which a short run cannot spare."""
    users = options.shape_settings.users
    return min(options.accounts, users) if users else options.accounts


def pool_for(environment: Environment, options: LoadOptions) -> AccountPool:
    """This process's account pool for the target host (made on first use)."""
    host = environment.host or DEFAULT_HOST
    if host not in _pools:
        _pools[host] = AccountPool(
            size=pool_size(options), run_id=run_id_for(environment, options.run_id)
        )
    return _pools[host]


class TodoApiUser(FastHttpUser):
    """A client of the todo API running the read-heavy or write-heavy mix (LOAD_MIX)."""

    host = DEFAULT_HOST
    weight = 3  # three REST clients for each GraphQL one (TodoGraphQLUser)
    network_timeout = 10.0  # a request without an answer after 10 s is a failure
    connection_timeout = 5.0

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.options = load_options(environment.parsed_options)
        self.mix: Mix = MIXES[self.options.mix]
        # think times and choices, not secrets
        self.rng = random.Random()  # noqa: S311  # nosec B311
        self.account: Account | None = None
        self.known_ids: list[int] = []
        self.todo_count = 0  # the account's todo count, as last seen
        # revalidating users: path -> (ETag, body) of their last 200 for a read
        self.conditional = self.rng.random() < self.options.conditional_share
        self.copies: dict[str, tuple[str, object]] = {}
        self.actions: dict[Action, Callable[[], None]] = {
            "list": self.list_first_page,
            "list_page": self.list_page,
            "list_filtered": self.list_filtered,
            "search": self.search,
            "retrieve": self.retrieve,
            "create": self.create,
            "update": self.update,
            "complete": self.complete,
            "delete": self.delete,
            "export": self.export,
        }

    def wait_time(self) -> float:
        """Think time between actions: uniform in [LOAD_THINK_MIN, LOAD_THINK_MAX] seconds."""
        return self.rng.uniform(self.options.think_min, self.options.think_max)

    def on_start(self) -> None:
        """Take an account; waits until this process's account pool is set up."""
        try:
            self.account = pool_for(self.environment, self.options).take(self.environment)
        except SetupError as error:
            logger.error("user stopped: %s", error)
            raise StopUser from error

    @task
    def act(self) -> None:
        """One action drawn from the mix."""
        self.actions[self.mix.pick(self.rng)]()

    # ------------------------------------------------------------------ requests
    def _api(
        self, method: str, path: str, *, name: str, **options: Unpack[RequestOptions]
    ) -> Reply:
        if self.account is None:
            raise StopUser  # on_start found no account
        token = self.account.token()
        held = self.copies.get(path) if self.conditional and method == "GET" else None
        if held is not None:
            options["if_none_match"] = held[0]
        reply = call(self.client, method, path, name=name, token=token, **options)
        if reply.status == 401:
            self.account.invalidate(token)
        if held is not None and reply.status == 304:
            return replace(reply, body=held[1])  # not modified: the copy is current
        if self.conditional and method == "GET" and reply.status == 200 and reply.etag:
            if len(self.copies) >= KEPT_COPIES_CAP:
                self.copies.clear()
            self.copies[path] = (reply.etag, reply.body)
        return reply

    def _remember_page(self, reply: Reply) -> None:
        if not reply.ok or not isinstance(reply.body, dict):
            return
        count = reply.body.get("count")
        if isinstance(count, int):
            self.todo_count = count
        results = reply.body.get("results")
        for item in results if isinstance(results, list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                self._remember(item["id"])

    def _remember(self, todo_id: int) -> None:
        if todo_id not in self.known_ids:
            self.known_ids.append(todo_id)
            del self.known_ids[:-KNOWN_IDS_CAP]

    def _forget(self, todo_id: int) -> None:
        if todo_id in self.known_ids:
            self.known_ids.remove(todo_id)

    def _some_id(self) -> int | None:
        """A todo id this user has seen; lists the first page when it knows none."""
        if not self.known_ids:
            self.list_first_page()
        return self.rng.choice(self.known_ids) if self.known_ids else None

    def _list(self, path: str, *, name: str, gone_ok: bool = False) -> None:
        """GET a page of the list and remember what it shows."""
        self._remember_page(self._api("GET", path, name=name, gone_ok=gone_ok))

    def _on_some_todo(
        self, method: str, *, expected: tuple[int, ...] = (200,), body: object | None = None
    ) -> Reply | None:
        """``method`` on a todo this user has seen (None when it knows none); forgets a todo
        that is gone, or that this request deleted."""
        todo_id = self._some_id()
        if todo_id is None:
            return None
        reply = self._api(
            method,
            f"/api/todos/{todo_id}/",
            name="/api/todos/{id}/",
            expected=expected,
            body=body,
            gone_ok=True,
        )
        if reply.outcome.gone or (method == "DELETE" and reply.ok):
            self._forget(todo_id)
        return reply

    # ------------------------------------------------------------------ actions
    def list_first_page(self) -> None:
        """GET /api/todos/."""
        self._list("/api/todos/", name="/api/todos/")

    def list_page(self) -> None:
        """GET /api/todos/?page=N within the pages the account has."""
        pages = max(1, math.ceil(self.todo_count / PAGE_SIZE))
        page = self.rng.randint(1, pages)
        self._list(f"/api/todos/?page={page}", name="/api/todos/?page={n}", gone_ok=True)

    def list_filtered(self) -> None:
        """GET /api/todos/?completed=true|false."""
        completed = self.rng.choice(("true", "false"))
        self._list(f"/api/todos/?completed={completed}", name="/api/todos/?completed={bool}")

    def search(self) -> None:
        """GET /api/todos/?search=WORD."""
        word = self.rng.choice(WORDS)
        self._list(f"/api/todos/?search={word}", name="/api/todos/?search={term}")

    def retrieve(self) -> None:
        """GET /api/todos/{id}/."""
        self._on_some_todo("GET")

    def create(self) -> None:
        """POST /api/todos/ (a delete instead once the account holds TODO_CAP todos)."""
        if self.todo_count >= TODO_CAP and self.known_ids:
            self.delete()
            return
        title = f"{self.rng.choice(WORDS)} {self.rng.randint(1, 10_000)}"
        reply = self._api(
            "POST", "/api/todos/", name="/api/todos/", expected=(201,), body={"title": title}
        )
        if reply.ok and isinstance(reply.body, dict) and isinstance(reply.body.get("id"), int):
            self._remember(reply.body["id"])
            self.todo_count += 1

    def update(self) -> None:
        """PATCH /api/todos/{id}/ with a new title."""
        self._on_some_todo("PATCH", body={"title": f"{self.rng.choice(WORDS)} (edited)"})

    def complete(self) -> None:
        """PATCH /api/todos/{id}/ with completed: true."""
        self._on_some_todo("PATCH", body={"completed": True})

    def export(self) -> None:
        """An export of this account's todos: enqueue, poll until done, download; the
        enqueue-to-succeeded time is reported as ``job: export`` (loadtests/exports.py)."""
        ExportJob(
            api=self._api,
            fire=self.environment.events.request.fire,
            sleep=gevent.sleep,
            poll_s=self.options.export_poll_s,
            deadline_s=self.options.export_deadline_s,
        ).run(self.rng.choice(FORMATS))

    def delete(self) -> None:
        """DELETE /api/todos/{id}/."""
        reply = self._on_some_todo("DELETE", expected=(204,))
        if reply is not None and reply.ok:
            self.todo_count = max(0, self.todo_count - 1)


class TodoGraphQLUser(TodoApiUser):
    """The same client and mix over GraphQL (``POST /graphql/``): each action is the named
    operation doing what the REST request does (``TodoList`` for the lists, ``CreateTodo``...);
    exports stay REST (GraphQL has none). A 200 whose errors say the server failed is a
    failure counted against availability, like a 5xx (``loadtests/graphql.py``)."""

    weight = 1

    def _graphql(
        self, document: str, variables: dict[str, object], *, gone_ok: bool = False
    ) -> Reply:
        return self._api(
            "POST",
            graphql.PATH,
            name=graphql.name_of(document),
            body=graphql.body(document, variables),
            judge=graphql.judge(gone_ok=gone_ok),
        )

    def _graphql_list(self, variables: dict[str, object]) -> None:
        reply = self._graphql(graphql.TODO_LIST, variables, gone_ok=True)
        page = graphql.field(reply.body, "todos") if reply.ok else None
        if not isinstance(page, dict):
            return
        if isinstance(page.get("totalCount"), int):
            self.todo_count = page["totalCount"]
        for item in page.get("items") or []:
            if isinstance(item, dict) and str(item.get("id", "")).isdigit():
                self._remember(int(item["id"]))

    def _on_some_todo_graphql(self, document: str, **variables: object) -> Reply | None:
        """``document`` on a todo this user has seen; forgets it when it is gone."""
        todo_id = self._some_id()
        if todo_id is None:
            return None
        reply = self._graphql(document, {"id": str(todo_id), **variables}, gone_ok=True)
        if reply.outcome.gone or (document is graphql.DELETE and reply.ok):
            self._forget(todo_id)
        return reply

    def list_first_page(self) -> None:
        """query TodoList."""
        self._graphql_list({})

    def list_page(self) -> None:
        """query TodoList with a page within the pages the account has."""
        pages = max(1, math.ceil(self.todo_count / PAGE_SIZE))
        self._graphql_list({"page": self.rng.randint(1, pages)})

    def list_filtered(self) -> None:
        """query TodoList with completed true or false."""
        self._graphql_list({"completed": self.rng.choice((True, False))})

    def search(self) -> None:
        """query TodoList with a search word."""
        self._graphql_list({"search": self.rng.choice(WORDS)})

    def retrieve(self) -> None:
        """query Todo."""
        self._on_some_todo_graphql(graphql.TODO)

    def create(self) -> None:
        """mutation CreateTodo (a delete instead once the account holds TODO_CAP todos)."""
        if self.todo_count >= TODO_CAP and self.known_ids:
            self.delete()
            return
        title = f"{self.rng.choice(WORDS)} {self.rng.randint(1, 10_000)}"
        reply = self._graphql(graphql.CREATE, {"title": title})
        created = graphql.field(reply.body, "createTodo") if reply.ok else None
        if isinstance(created, dict) and str(created.get("id", "")).isdigit():
            self._remember(int(created["id"]))
            self.todo_count += 1

    def update(self) -> None:
        """mutation UpdateTodo with a new title."""
        self._on_some_todo_graphql(graphql.UPDATE, title=f"{self.rng.choice(WORDS)} (edited)")

    def complete(self) -> None:
        """mutation CompleteTodo."""
        self._on_some_todo_graphql(graphql.COMPLETE)

    def delete(self) -> None:
        """mutation DeleteTodo."""
        reply = self._on_some_todo_graphql(graphql.DELETE)
        if reply is not None and reply.ok:
            self.todo_count = max(0, self.todo_count - 1)
