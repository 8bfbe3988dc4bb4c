"""Fixtures for the end-to-end tests: ``server``, one real gunicorn on a fresh database.

The helpers these tests use (``http``, ``create_account``, ``run_server``...) live in
``tests.support``; the fake telemetry backends (``otlp``, ``sentry``, ``black_hole``) are
fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import Server, run_server_on_new_database


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service under gunicorn (2 workers, debug off) on a fresh, migrated database."""
    with run_server_on_new_database({}, directory=tmp_path_factory.mktemp("gunicorn")) as running:
        yield running
