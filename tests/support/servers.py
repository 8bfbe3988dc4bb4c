"""Run the real gunicorn server for the system tests (e2e, reliability, security, load).

``run_server`` migrates and starts gunicorn (``python -m app.serve --config
gunicorn.conf.py``) with production-like settings on a free port of 127.0.0.1;
``run_server_on_new_database`` does so on a fresh, migrated temporary database (on the
suite's PostgreSQL server when the suite runs on PostgreSQL, else a SQLite file). The
environment, the command and the process handling are ``loadtests.local_server``'s, the
launcher ``make bench`` and ``make soak`` use too.

Two preparations are made once per test run and shared, because neither depends on a
server's settings and each took ~5 s of a 2-core machine per server: the static files
(``collected_static``: ``manage.py collectstatic`` with the production storage, read-only
afterwards) and a migrated database that new databases copy (``migrated_database``: one
``manage.py migrate``, then ``CREATE DATABASE ... TEMPLATE`` or a file copy per server).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtests import local_server
from tests.support.databases import temporary_database
from tests.support.ports import HOST, free_port
from tests.support.processes import RunningProcess, running_process

REPO_ROOT = local_server.REPO
BIN_DIR = local_server.BIN
MANAGE_TIMEOUT_S = 120.0


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
        **local_server.base_environment(
            port=port, metrics_port=free_port(), static_root=directory / "static", workers=2
        ),
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def manage(*args: str, env: Mapping[str, str]) -> None:
    """Run ``python manage.py ARGS`` from the repository root; fail the test on an error."""
    result = local_server.manage(*args, env=env, timeout=MANAGE_TIMEOUT_S)
    if result.returncode:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


# What the run prepares once (see the module's docstring), removed when the run ends.
_PREPARED_LOCK = threading.Lock()
_PREPARED: dict[str, str] = {}
_RUN_SCOPED = contextlib.ExitStack()
atexit.register(_RUN_SCOPED.close)


def _run_directory() -> Path:
    """A temporary directory that lives as long as the test run."""
    directory = Path(tempfile.mkdtemp(prefix="todo-tests-prepared-"))
    _RUN_SCOPED.callback(shutil.rmtree, directory, ignore_errors=True)
    return directory


def _prepared(key: str) -> str:
    """The run's preparation ``key`` (``static`` or ``template``), made on first use."""
    with _PREPARED_LOCK:
        if key not in _PREPARED:
            directory = _run_directory()
            env = server_environment({}, port=free_port(), directory=directory)
            if key == "static":
                manage("collectstatic", "--noinput", env=env)
                _PREPARED[key] = env["DJANGO_STATIC_ROOT"]
            else:
                url = _RUN_SCOPED.enter_context(temporary_database(directory))
                manage("migrate", "--noinput", env={**env, "DATABASE_URL": url})
                _PREPARED[key] = url
        return _PREPARED[key]


def collected_static() -> Path:
    """The run's ``STATIC_ROOT``, collected once (what every server of the run serves)."""
    return Path(_prepared("static"))


@contextlib.contextmanager
def migrated_database(directory: Path) -> Iterator[str]:
    """Yield the ``DATABASE_URL`` of a new database of the suite's kind with every migration
    applied (a copy of the run's migrated template), removed afterwards."""
    with temporary_database(directory, template=_prepared("template")) as database_url:
        yield database_url


@contextlib.contextmanager
def run_server(
    overrides: Mapping[str, str], *, directory: Path, migrate: bool = True
) -> Iterator[Server]:
    """Migrate and run gunicorn with ``overrides`` on a free port, serving the run's
    ``collected_static`` files unless ``overrides`` name a ``DJANGO_STATIC_ROOT``.

    ``overrides`` must name ``DATABASE_URL``; skip ``migrate`` when that database is meant to
    be unreachable, or is already migrated (``migrated_database``).
    """
    directory.mkdir(parents=True, exist_ok=True)  # for the log (collectstatic once made it)
    port = free_port()
    env = server_environment(overrides, port=port, directory=directory)
    if "DJANGO_STATIC_ROOT" not in overrides:
        env["DJANGO_STATIC_ROOT"] = str(collected_static())
    if migrate:
        manage("migrate", "--noinput", env=env)
    url = f"http://{HOST}:{port}"
    log_path = directory / "gunicorn.log"
    with running_process(
        "gunicorn",
        local_server.gunicorn_command(),
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
    """``run_server`` with ``overrides`` on a fresh ``migrated_database``."""
    with (
        migrated_database(directory) as database_url,
        run_server(
            {**overrides, "DATABASE_URL": database_url}, directory=directory, migrate=False
        ) as server,
    ):
        yield server
