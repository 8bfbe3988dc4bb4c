"""Run the real gunicorn server for end-to-end tests, and talk to it over plain HTTP.

``run_server`` migrates, collects static files and starts ``gunicorn --config gunicorn.conf.py``
with production-like settings on a free port of 127.0.0.1; ``run_server_on_new_database`` does
so on a fresh temporary database (on the suite's PostgreSQL server when the suite runs on
PostgreSQL, else a SQLite file), and the session-scoped ``server`` fixture is one such server.
``http`` is a tiny client that never raises on error statuses and never follows redirects or
proxies; ``create_account`` registers a user over it. ``running_process`` starts and stops any
server binary (gunicorn, Prometheus), ``poll`` waits for a condition, and the module-scoped
``otlp``, ``sentry`` and ``black_hole`` fixtures are the fake telemetry backends.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"
STARTUP_DEADLINE_S = 30.0
SHUTDOWN_DEADLINE_S = 15.0
MANAGE_TIMEOUT_S = 120.0

T = TypeVar("T")


# ------------------------------------------------------------------ HTTP client
class Response(NamedTuple):
    """An HTTP answer: status, headers and the body (parsed JSON, else text)."""

    status: int
    headers: Message
    body: Any

    def is_json(self) -> bool:
        """True when the server declared a JSON body."""
        content_type = self.headers.get("Content-Type", "")
        return content_type.split(";")[0].strip().endswith(("/json", "+json"))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back to the caller instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies: every request goes straight to 127.0.0.1 even when *_proxy variables are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def http(
    method: str,
    url: str,
    *,
    json_body: object | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Response:
    """Send one request; 4xx and 5xx answers are returned, not raised."""
    data = None if json_body is None else json.dumps(json_body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json, text/html;q=0.9, */*;q=0.8")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            status, answer_headers, raw = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            status, answer_headers, raw = error.code, error.headers, error.read()
    response = Response(status, answer_headers, raw.decode("utf-8", errors="replace"))
    if response.is_json() and raw:
        return response._replace(body=json.loads(raw))
    return response


# ------------------------------------------------------------------ accounts
@dataclass(frozen=True)
class Account:
    """A user registered over HTTP, with the JWT pair the token endpoint returned."""

    id: int
    username: str
    password: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for API calls."""
        return {"Authorization": f"Bearer {self.access}"}


def create_account(server: Server, *, password: str | None = None) -> Account:
    """Register a fresh user and obtain a token pair, both over HTTP; check both answers."""
    credentials = {
        "username": f"e2e-{secrets.token_hex(5)}",
        "password": password or f"pw-{secrets.token_urlsafe(18)}",
    }
    registered = http("POST", f"{server.url}/api/auth/register/", json_body=credentials)
    assert registered.status == 201, registered
    assert registered.body["username"] == credentials["username"]
    assert "password" not in registered.body
    token = http("POST", f"{server.url}/api/auth/token/", json_body=credentials)
    assert token.status == 200, token
    assert set(token.body) >= {"access", "refresh"}
    return Account(
        id=int(registered.body["id"]),
        username=credentials["username"],
        password=credentials["password"],
        access=str(token.body["access"]),
        refresh=str(token.body["refresh"]),
    )


# ------------------------------------------------------------------ waiting
def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    failure: Callable[[T], str],
    interval: float = 0.2,
) -> T:
    """Call ``fetch`` every ``interval`` s until ``done`` holds for its value; return that value.

    After ``timeout`` s without it, fail the test with ``failure(last value)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            pytest.fail(failure(value), pytrace=False)
        time.sleep(interval)


# ------------------------------------------------------------------ ports
def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections to it are refused."""
    return free_port()


# ------------------------------------------------------------------ databases
def sqlite_url(directory: Path) -> str:
    """A ``DATABASE_URL`` for a new SQLite file in ``directory``."""
    return f"sqlite:///{(directory / 'db.sqlite3').resolve()}"


def postgres_admin(settings_dict: Mapping[str, Any]) -> psycopg.Connection[Any]:
    """An autocommit connection to the ``postgres`` maintenance database (as Django uses)."""
    return psycopg.connect(
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        dbname="postgres",
        connect_timeout=5,
        autocommit=True,
    )


def _postgres_url(settings_dict: Mapping[str, Any], name: str) -> str:
    user = quote(str(settings_dict["USER"] or ""), safe="")
    password = settings_dict["PASSWORD"]
    credentials = f"{user}:{quote(str(password), safe='')}" if password else user
    host = quote(str(settings_dict["HOST"] or ""), safe="")
    port = f":{settings_dict['PORT']}" if settings_dict["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


@contextlib.contextmanager
def temporary_database(directory: Path) -> Iterator[str]:
    """Yield the ``DATABASE_URL`` of an empty database of the suite's kind, removed afterwards.

    PostgreSQL: a randomly named database on the suite's server, dropped WITH (FORCE) at the
    end. Anything else: a SQLite file in ``directory``.
    """
    if connection.vendor != "postgresql":
        yield sqlite_url(directory)
        return
    settings_dict = dict(connection.settings_dict)
    name = f"todos_e2e_{secrets.token_hex(6)}"
    with postgres_admin(settings_dict) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _postgres_url(settings_dict, name)
    finally:
        with postgres_admin(settings_dict) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ------------------------------------------------------------------ the server
@dataclass(frozen=True)
class RunningProcess:
    """A server started by ``running_process``: its base URL, process and combined log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return _log_of(self.log_path)


@dataclass(frozen=True)
class Server(RunningProcess):
    """A running gunicorn (and the app in its workers), plus the environment it runs with."""

    env: Mapping[str, str]

    @property
    def metrics_url(self) -> str:
        """The metrics endpoint gunicorn's master serves on its own port."""
        return f"http://{HOST}:{self.env['METRICS_PORT']}/metrics"


def server_environment(
    overrides: Mapping[str, str], *, port: int, directory: Path
) -> dict[str, str]:
    """The inherited environment (test throttle rates included) plus production-like settings."""
    return {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_STATIC_ROOT": str(directory / "static"),
        "BIND_HOST": HOST,
        "PORT": str(port),
        "METRICS_PORT": str(free_port()),
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def manage(*args: str, env: Mapping[str, str]) -> None:
    """Run ``python manage.py ARGS`` from the repository root; fail the test on an error."""
    command = [sys.executable, "manage.py", *args]
    try:
        subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            check=True,
            capture_output=True,
            text=True,
            timeout=MANAGE_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as error:
        pytest.fail(
            f"{' '.join(args)} exited {error.returncode}\n{error.stdout}\n{error.stderr}",
            pytrace=False,
        )


# ------------------------------------------------------------------ server processes
def _log_of(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


def _wait_until_answering(
    name: str, process: subprocess.Popen[bytes], ready_url: str, log_path: Path
) -> None:
    """Poll ``ready_url`` until it answers 200; fail with the log if the process dies or is slow."""

    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode} while starting:\n{_log_of(log_path)}",
                pytrace=False,
            )
        with contextlib.suppress(OSError):  # refused or reset while still booting
            return http("GET", ready_url, timeout=2).status == 200
        return False

    poll(
        answering,
        bool,
        timeout=STARTUP_DEADLINE_S,
        interval=0.1,
        failure=lambda _: (
            f"{name} did not answer {ready_url} within {STARTUP_DEADLINE_S:.0f} s:\n"
            f"{_log_of(log_path)}"
        ),
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful shutdown); SIGKILL to the whole process group after the deadline."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group running_process created for it
        process.wait(timeout=SHUTDOWN_DEADLINE_S)


@contextlib.contextmanager
def running_process(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in a new session, stdout and stderr to ``log_path``; yield it once
    ``ready_url`` answers 200, and stop it (SIGTERM, then SIGKILL) afterwards."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(name, process, ready_url, log_path)
        yield process
    finally:
        _stop(process)


@contextlib.contextmanager
def run_server(
    overrides: Mapping[str, str], *, directory: Path, migrate: bool = True
) -> Iterator[Server]:
    """Prepare (migrate, collectstatic) and run gunicorn with ``overrides`` on a free port.

    ``overrides`` must name ``DATABASE_URL``; skip ``migrate`` when that database is meant to
    be unreachable.
    """
    port = free_port()
    env = server_environment(overrides, port=port, directory=directory)
    if migrate:
        manage("migrate", "--noinput", env=env)
    manage("collectstatic", "--noinput", env=env)
    url = f"http://{HOST}:{port}"
    log_path = directory / "gunicorn.log"
    with running_process(
        "gunicorn",
        [str(BIN_DIR / "gunicorn"), "--config", "gunicorn.conf.py"],
        cwd=REPO_ROOT,
        env=env,
        log_path=log_path,
        ready_url=f"{url}/healthz",
    ) as process:
        yield Server(url=url, env=env, process=process, log_path=log_path)


@contextlib.contextmanager
def run_server_on_new_database(
    overrides: Mapping[str, str], *, directory: Path
) -> Iterator[Server]:
    """``run_server`` with ``overrides`` on a fresh, migrated ``temporary_database``."""
    with (
        temporary_database(directory) as database_url,
        run_server({**overrides, "DATABASE_URL": database_url}, directory=directory) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service under gunicorn (2 workers, debug off) on a fresh, migrated database."""
    with run_server_on_new_database({}, directory=tmp_path_factory.mktemp("gunicorn")) as running:
        yield running
