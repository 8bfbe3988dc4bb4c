"""The simulated API client: one account from the pool, a JWT, a weighted mix on its todos.

``FastHttpUser`` (geventhttpclient) rather than ``HttpUser`` (requests): measured here it
drives about 3x the requests per core, so one load-generator core is not the bottleneck of a
run against a server on the same machine.

Each action is one request named by its route template, so Locust's statistics group by
endpoint the way the service's metrics and spans do (``/api/todos/{id}/``); list variants add
their query parameter (``/api/todos/?search={term}``) and keep the template visible.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

from locust import task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.exception import StopUser

from loadtests.accounts import Account, AccountPool, SetupError, run_id_for
from loadtests.calls import Reply, call
from loadtests.mixes import MIXES, Action, Mix
from loadtests.options import LoadOptions, load_options

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:8000"
PAGE_SIZE = 20  # the API's default page size
TODO_CAP = 200  # above this many todos in an account, a create becomes a delete
KNOWN_IDS_CAP = 200  # ids a user remembers
WORDS = ("milk", "report", "invoice", "garden", "dentist", "tickets", "review", "backup")

_pools: dict[str, AccountPool] = {}  # one pool per target host, per process


def pool_for(environment: Environment, options: LoadOptions) -> AccountPool:
    """This process's account pool for the target host (made on first use)."""
    host = environment.host or DEFAULT_HOST
    if host not in _pools:
        _pools[host] = AccountPool(
            size=options.accounts, run_id=run_id_for(environment, options.run_id)
        )
    return _pools[host]


class TodoApiUser(FastHttpUser):
    """A client of the todo API running the read-heavy or write-heavy mix (LOAD_MIX)."""

    host = DEFAULT_HOST
    network_timeout = 10.0  # a request without an answer after 10 s is a failure
    connection_timeout = 5.0

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.options = load_options(environment.parsed_options)
        self.mix: Mix = MIXES[self.options.mix]
        self.rng = random.Random()  # noqa: S311  # think times and choices, not secrets
        self.account: Account | None = None
        self.known_ids: list[int] = []
        self.todo_count = 0  # the account's todo count, as last seen
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
        self,
        method: str,
        path: str,
        *,
        name: str,
        expected: tuple[int, ...] = (200,),
        body: object | None = None,
        gone_ok: bool = False,
    ) -> Reply:
        if self.account is None:
            raise StopUser  # on_start found no account
        token = self.account.token()
        reply = call(
            self.client,
            method,
            path,
            name=name,
            expected=expected,
            token=token,
            body=body,
            gone_ok=gone_ok,
        )
        if reply.status == 401:
            self.account.invalidate(token)
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

    # ------------------------------------------------------------------ actions
    def list_first_page(self) -> None:
        """GET /api/todos/."""
        self._remember_page(self._api("GET", "/api/todos/", name="/api/todos/"))

    def list_page(self) -> None:
        """GET /api/todos/?page=N within the pages the account has."""
        pages = max(1, math.ceil(self.todo_count / PAGE_SIZE))
        page = self.rng.randint(1, pages)
        reply = self._api(
            "GET", f"/api/todos/?page={page}", name="/api/todos/?page={n}", gone_ok=True
        )
        self._remember_page(reply)

    def list_filtered(self) -> None:
        """GET /api/todos/?completed=true|false."""
        completed = self.rng.choice(("true", "false"))
        self._remember_page(
            self._api(
                "GET", f"/api/todos/?completed={completed}", name="/api/todos/?completed={bool}"
            )
        )

    def search(self) -> None:
        """GET /api/todos/?search=WORD."""
        word = self.rng.choice(WORDS)
        self._remember_page(
            self._api("GET", f"/api/todos/?search={word}", name="/api/todos/?search={term}")
        )

    def retrieve(self) -> None:
        """GET /api/todos/{id}/."""
        todo_id = self._some_id()
        if todo_id is None:
            return
        reply = self._api("GET", f"/api/todos/{todo_id}/", name="/api/todos/{id}/", gone_ok=True)
        if reply.outcome.gone:
            self._forget(todo_id)

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
        self._patch({"title": f"{self.rng.choice(WORDS)} (edited)"})

    def complete(self) -> None:
        """PATCH /api/todos/{id}/ with completed: true."""
        self._patch({"completed": True})

    def _patch(self, body: dict[str, object]) -> None:
        todo_id = self._some_id()
        if todo_id is None:
            return
        reply = self._api(
            "PATCH", f"/api/todos/{todo_id}/", name="/api/todos/{id}/", body=body, gone_ok=True
        )
        if reply.outcome.gone:
            self._forget(todo_id)

    def delete(self) -> None:
        """DELETE /api/todos/{id}/."""
        todo_id = self._some_id()
        if todo_id is None:
            return
        reply = self._api(
            "DELETE",
            f"/api/todos/{todo_id}/",
            name="/api/todos/{id}/",
            expected=(204,),
            gone_ok=True,
        )
        if reply.ok:
            self._forget(todo_id)
            self.todo_count = max(0, self.todo_count - 1)
