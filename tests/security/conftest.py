"""Fixtures of the security suites: the fuzzing server, shared by the REST and GraphQL runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fuzzing import SCHEMATHESIS
from tests.support.servers import Server, run_server_on_new_database


@pytest.fixture(scope="package")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with access tokens that outlive the run and throttles out of the way; one
    server for the package, so the GraphQL fuzzing costs no start-up of its own."""
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed: .venv/bin/pip install -r requirements/dev.txt")
    overrides = {
        "JWT_ACCESS_TOKEN_LIFETIME": "3600",
        "THROTTLE_ANON_RATE": "100000/minute",
        "THROTTLE_USER_RATE": "100000/minute",
        "THROTTLE_AUTH_RATE": "100000/minute",
    }
    with run_server_on_new_database(overrides, directory=tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv
