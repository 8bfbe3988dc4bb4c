"""Run the real gunicorn server for end-to-end tests, and talk to it over plain HTTP.

``run_server`` migrates, collects static files and starts ``gunicorn --config gunicorn.conf.py``
with production-like settings on a free port of 127.0.0.1; the session-scoped ``server``
fixture is one such server backed by a fresh temporary database (on the suite's PostgreSQL
server when the suite runs on PostgreSQL, else a SQLite file). ``http`` is a tiny client that
never raises on error statuses and never follows redirects or proxies.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, NamedTuple
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


def _postgres_admin(settings_dict: Mapping[str, Any]) -> psycopg.Connection[Any]:
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
    with _postgres_admin(settings_dict) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _postgres_url(settings_dict, name)
    finally:
        with _postgres_admin(settings_dict) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ------------------------------------------------------------------ the server
@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL, environment, process and combined log file."""

    url: str
    env: Mapping[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything gunicorn and the app wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

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


def _wait_until_live(server: Server) -> None:
    """Poll /healthz until it answers 200; fail with gunicorn's log if it dies or is too slow."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"gunicorn exited with {server.process.returncode} while starting:\n{server.log()}",
                pytrace=False,
            )
        with contextlib.suppress(OSError):  # refused or reset while still booting
            if http("GET", f"{server.url}/healthz", timeout=2).status == 200:
                return
        time.sleep(0.1)
    pytest.fail(
        f"gunicorn did not answer /healthz within {STARTUP_DEADLINE_S:.0f} s:\n{server.log()}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful shutdown); SIGKILL to the whole process group after the deadline."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this fixture created for gunicorn
        process.wait(timeout=SHUTDOWN_DEADLINE_S)


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
    log_path = directory / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN_DIR / "gunicorn"), "--config", "gunicorn.conf.py"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(url=f"http://{HOST}:{port}", env=env, process=process, log_path=log_path)
    try:
        _wait_until_live(server)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service under gunicorn (2 workers, debug off) on a fresh, migrated database."""
    directory = tmp_path_factory.mktemp("gunicorn")
    with (
        temporary_database(directory) as database_url,
        run_server({"DATABASE_URL": database_url}, directory=directory) as running,
    ):
        yield running
