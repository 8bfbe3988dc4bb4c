"""``gunicorn.conf.py`` refuses a bad variable with one line naming it, before any worker; so
does ``app.serve`` for ``WEB_CONCURRENCY``, which gunicorn itself parses before the file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from loadtests import local_server
from tests.support.python import run_python

pytestmark = pytest.mark.database_free

LOAD_CONFIG = "import runpy; runpy.run_path('gunicorn.conf.py')"
SERVE_VERSION = ["-m", "app.serve", "--version"]  # the image's command, asking only the version


def _load_config(tmp_path: Path, **values: str) -> subprocess.CompletedProcess[str]:
    """Execute the config file as gunicorn does, in a fresh process."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), **values}
    return run_python(LOAD_CONFIG, env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEB_CONCURRENCY", "abc", "WEB_CONCURRENCY: expected an integer, got 'abc'"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY: expected an integer >= 1, got '0'"),
        ("PORT", "80.5", "PORT: expected an integer, got '80.5'"),
        (
            "TELEMETRY_ENABLED",
            "maybe",
            "TELEMETRY_ENABLED: expected true/false/1/0/yes/no/on/off, got 'maybe'",
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "zipkin",
            "OTEL_TRACES_EXPORTER: expected otlp/console/none, got 'zipkin'",
        ),
    ],
)
def test_a_bad_value_stops_the_master_with_one_line(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = _load_config(tmp_path, **{name: value})

    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_good_values_load(tmp_path: Path) -> None:
    result = _load_config(tmp_path, WEB_CONCURRENCY="3", TELEMETRY_ENABLED="off")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("two", "WEB_CONCURRENCY: expected an integer, got 'two'"),
        ("-1", "WEB_CONCURRENCY: expected an integer >= 1, got '-1'"),
    ],
)
def test_the_entry_point_refuses_a_bad_worker_count_before_gunicorn_reads_it(
    tmp_path: Path, value: str, message: str
) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "WEB_CONCURRENCY": value}

    result = local_server.run_python(SERVE_VERSION, env, 60)

    assert result.returncode == 1
    assert result.stderr.strip() == message  # not gunicorn's ValueError traceback


def test_the_entry_point_hands_its_arguments_to_gunicorn(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "WEB_CONCURRENCY": "3"}

    result = local_server.run_python(SERVE_VERSION, env, 60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gunicorn (version ")


WORKER_EXIT_IN_THE_MASTER = """
import runpy, sys, types
config = runpy.run_path('gunicorn.conf.py')
gone = types.SimpleNamespace(pid=2**22 + 1, cfg=types.SimpleNamespace(graceful_timeout=25))
config['worker_exit'](None, gone)
print('app.telemetry.exit_flush' in sys.modules, 'app.telemetry.tracing.provider' in sys.modules)
"""


def test_the_worker_exit_hook_does_nothing_in_the_master(tmp_path: Path) -> None:
    """gunicorn also calls it in the master for a worker found gone: no flush, no telemetry
    imported there (the master never loads the app)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    result = run_python(WORKER_EXIT_IN_THE_MASTER, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


WORKER_INIT = """
import gc, runpy, types, weakref
config = runpy.run_path('gunicorn.conf.py')
class Node:
    pass
cycle = Node()
cycle.itself = cycle  # garbage only a collection frees
collected = weakref.ref(cycle)
del cycle
worker = types.SimpleNamespace(cfg=types.SimpleNamespace(graceful_timeout=25))
config['post_worker_init'](worker)
print(gc.get_freeze_count() > 1000, collected() is None)
"""


def test_a_worker_freezes_its_start_up_heap_once_initialised(tmp_path: Path) -> None:
    """Full collections then skip the long-lived heap (app.heap): no 100 ms pauses."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    result = run_python(WORKER_INIT, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]  # frozen; the cycle collected first
