"""The pool of accounts the simulated users share, created through the public API.

Each load-generator process (the local runner, or each worker) keeps one pool of
``LOAD_ACCOUNTS`` accounts named ``load-<run id>-<n>``. The first user to start triggers the
pool's setup: every account is registered (``POST /api/auth/register/``), logged in
(``POST /api/auth/token/``) and given a few seed todos, a couple at a time, and no user starts
its request mix until the whole pool is ready. Registration and login hash a password on
purpose slowly; doing all of it before the measured mix keeps those bursts out of the latency
the gate judges (seen: account creation during the measured phase pushed p95 past 500 ms).
Users take accounts round-robin, so several users share one account and its token.

Access tokens are refreshed (``POST /api/auth/token/refresh/``) shortly before they expire,
once per account, whichever user notices first; an expired refresh token means a new login.
All of these requests are named ``setup: ...`` and the gate leaves them out; a 429 from the
target's auth throttle (THROTTLE_AUTH_RATE, 20/minute per client IP by default) is waited out
as its Retry-After says, a bounded number of times.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time

import gevent
import gevent.event
import gevent.lock
import gevent.pool
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.calls import call, call_with_retries
from loadtests.tokens import AccessToken, TokenError

logger = logging.getLogger(__name__)

SEED_TODOS = 5  # todos each new account starts with, so lists and searches find something
SETUP_CONCURRENCY = 2  # accounts set up at once (each costs the server two password hashes)
NETWORK_TIMEOUT_SECONDS = 30.0


class SetupError(RuntimeError):
    """An account could not be created or logged in."""


def account_name(run_id: str, index: int) -> str:
    """``load-<run id>-<n>``: valid as a Django username and easy to find in the database."""
    return f"load-{run_id}-{index}"


class Account:
    """One account: its credentials and its current tokens, shared by the users holding it."""

    def __init__(self, username: str, session: FastHttpSession) -> None:
        self.username = username
        self.password = secrets.token_urlsafe(18)  # never reused: a new run, new accounts
        self._session = session
        self._access: AccessToken | None = None
        self._refresh: str | None = None
        self._lock = gevent.lock.Semaphore()

    @property
    def _credentials(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def _call(
        self, method: str, path: str, *, expected: tuple[int, ...], body: object
    ) -> tuple[int, object]:
        reply = call_with_retries(
            self._session,
            method,
            path,
            name=f"setup: {path}",
            expected=expected,
            body=body,
            sleep=gevent.sleep,
        )
        return reply.status, reply.body

    def create(self, *, seed_todos: int) -> None:
        """Register, log in, and add ``seed_todos`` todos (best effort)."""
        # 400: the name is taken (a reused LOAD_RUN_ID); the login below says whether it is ours.
        status, _ = self._call(
            "POST", "/api/auth/register/", expected=(201, 400), body=self._credentials
        )
        if status not in (201, 400):
            raise SetupError(f"registering {self.username} failed: HTTP {status}")
        self._login()
        for number in range(seed_todos):  # one attempt each: a missing seed changes nothing
            call(
                self._session,
                "POST",
                "/api/todos/",
                name="setup: /api/todos/",
                expected=(201,),
                token=self.token(),
                body={"title": f"seed todo {number + 1} for the load test"},
            )

    def _login(self) -> None:
        status, body = self._call(
            "POST", "/api/auth/token/", expected=(200,), body=self._credentials
        )
        if status == 401:
            raise SetupError(
                f"{self.username} exists with another password: choose a new LOAD_RUN_ID"
            )
        self._store(status, body, refresh_expected=True)

    def _renew(self) -> None:
        if self._refresh is None:
            self._login()
            return
        status, body = self._call(
            "POST", "/api/auth/token/refresh/", expected=(200,), body={"refresh": self._refresh}
        )
        if status == 401:  # the refresh token expired (or was rotated away): log in again
            self._refresh = None
            self._login()
            return
        self._store(status, body, refresh_expected=False)

    def _store(self, status: int, body: object, *, refresh_expected: bool) -> None:
        if status != 200 or not isinstance(body, dict) or "access" not in body:
            raise SetupError(f"no token for {self.username}: HTTP {status}")
        try:
            self._access = AccessToken.parse(str(body["access"]))
        except TokenError as error:
            raise SetupError(f"unreadable access token for {self.username}: {error}") from error
        if "refresh" in body:  # a login, or a refresh with rotation switched on
            self._refresh = str(body["refresh"])
        elif refresh_expected:
            raise SetupError(f"no refresh token for {self.username}")

    def token(self) -> str:
        """A valid access token, refreshed first if it expires within the refresh margin."""
        with self._lock:
            if self._access is None or self._access.due(time.time()):
                self._renew()
            if self._access is None:  # _renew stores a token or raises
                raise SetupError(f"no token for {self.username}")
            return self._access.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after a 401 so the next request renews it."""
        with self._lock:
            if self._access is not None and self._access.value == token:
                self._access = None


class AccountPool:
    """``size`` accounts per process, set up together on first demand, handed out round-robin."""

    def __init__(self, *, size: int, run_id: str, seed_todos: int = SEED_TODOS) -> None:
        self.size = size
        self.run_id = run_id
        self.seed_todos = seed_todos
        self.accounts: list[Account] = []
        self.error: str | None = None
        self._ready = gevent.event.Event()
        self._started = False
        self._turn = itertools.count()

    def take(self, environment: Environment) -> Account:
        """The next account, once the whole pool is ready; raises SetupError if it never was."""
        if not self._started:
            self._started = True
            gevent.spawn(self._prepare, environment)  # outlives the user that triggered it
        self._ready.wait()
        if self.error is not None:
            raise SetupError(self.error)
        return self.accounts[next(self._turn) % self.size]

    def _prepare(self, environment: Environment) -> None:
        started = time.monotonic()
        session = FastHttpSession(
            base_url=environment.host,
            request_event=environment.events.request,
            user=None,
            concurrency=SETUP_CONCURRENCY,
            network_timeout=NETWORK_TIMEOUT_SECONDS,
            connection_timeout=NETWORK_TIMEOUT_SECONDS,
        )
        self.accounts = [
            Account(account_name(self.run_id, index), session) for index in range(self.size)
        ]
        logger.info(
            "setting up %d accounts (%s ... %s) before the request mix starts",
            self.size,
            self.accounts[0].username,
            self.accounts[-1].username,
        )
        workers = gevent.pool.Pool(SETUP_CONCURRENCY)
        try:
            for account in self.accounts:
                workers.spawn(account.create, seed_todos=self.seed_todos)
            workers.join(raise_error=True)
        except Exception as error:  # any failure leaves the pool unusable: say why, once
            workers.kill()
            self.error = f"account setup failed: {error}"
            logger.error("%s", self.error)
        else:
            logger.info("%d accounts ready in %.1f s", self.size, time.monotonic() - started)
        finally:
            self._ready.set()


def run_id_for(environment: Environment, configured: str | None) -> str:
    """The account-name prefix: random per process, or LOAD_RUN_ID (+ the worker's index)."""
    if configured is None:
        return secrets.token_hex(3)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return f"{configured}-w{runner.worker_index}"
    return configured
