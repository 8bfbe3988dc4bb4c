"""Property-based fuzzing of the GraphQL schema (schemathesis CLI): 0 server errors.

schemathesis reads the committed SDL (``app/graphql/schema.graphql``, so introspection stays
off as in production) and sends generated queries and mutations, valid and invalid, to
``/graphql/`` of the real gunicorn as a freshly registered user, in its coverage and fuzzing
phases. A server error is an HTTP 5xx or a GraphQL error whose ``extensions.code`` is the
server's (``INTERNAL_SERVER_ERROR``, ``SERVICE_UNAVAILABLE``): both are counted from
schemathesis' own HAR log, and must be 0.

schemathesis' ``not_a_server_error`` check for GraphQL is left out: it reads any error that
has a ``path`` and unlabelled by its list of client codes as a server error, so our
``NOT_FOUND`` (an id that is not yours: a client's mistake, with ``path`` and ``data``, as
GraphQL reports field errors) would be reported as one. The HAR count above is the same check
with our classification (``app/graphql/errors.py``).

PostgreSQL pass only, like the REST fuzzing, on the same server (tests/security/conftest.py);
bounded by ``GRAPHQL_FUZZ_EXAMPLES`` per operation and phase.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.graphql.errors import SERVER_CODES
from app.graphql.sdl import SDL_PATH
from tests.support.accounts import create_account
from tests.support.fuzzing import SCHEMATHESIS, only_report, run_streamed
from tests.support.servers import Server
from tests.support.tools import tool_environment

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("GRAPHQL_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261127"))
TIMEOUT_S = float(os.environ.get("FUZZ_TIMEOUT_S", "120"))
OPERATIONS = 6  # todos, todo, createTodo, updateTodo, completeTodo, deleteTodo
MIN_REQUESTS = 100

CONFIG = """\
# Written by tests/security/test_graphql_fuzz.py for one run; the token comes from the environment.
headers = { Authorization = "Bearer ${FUZZ_TOKEN}" }
"""


def _codes(entry: dict[str, Any]) -> list[str]:
    """The ``extensions.code`` of every error in one HAR entry's JSON answer."""
    text = entry["response"].get("content", {}).get("text") or ""
    try:
        answer = json.loads(text)
    except ValueError:
        return []
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return [
        str((error.get("extensions") or {}).get("code"))
        for error in errors or []
        if isinstance(error, dict)
    ]


def test_fuzzing_the_graphql_schema_finds_no_server_error(
    fuzz_server: Server, tmp_path: Path
) -> None:
    token = create_account(fuzz_server).access
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(SCHEMATHESIS), "--config-file", str(config), "--no-color",
        "run", str(SDL_PATH), "--url", f"{fuzz_server.url}/graphql/",
        "--exclude-checks", "not_a_server_error,positive_data_acceptance",
        "--phases", "coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED),
        "--workers", "2", "--request-timeout", "15", "--generation-database", "none",
        "--report", "json,har", "--report-dir", str(tmp_path / "reports"),
    ]  # fmt: skip
    started = time.monotonic()
    result = run_streamed(
        command,
        cwd=tmp_path,
        env={**tool_environment(), "FUZZ_TOKEN": token, "NO_COLOR": "1"},
        timeout=TIMEOUT_S,
    )
    output = result.stdout

    report = only_report(tmp_path, "json")
    entries = only_report(tmp_path, "har")["log"]["entries"]
    statuses = Counter(int(entry["response"]["status"]) for entry in entries)
    codes = Counter(code for entry in entries for code in _codes(entry))
    summary = (
        f"{len(entries)} requests in {time.monotonic() - started:.0f} s, statuses "
        f"{dict(sorted(statuses.items()))}, error codes {dict(sorted(codes.items()))}"
    )
    print(summary)  # noqa: T201  # shown with -s / -rA: the size of the run

    assert result.returncode == 0, output
    assert report["failures"] == [], output
    assert report["errors"] == [], output
    assert report["operations"]["tested"] == OPERATIONS, report["operations"]
    assert len(entries) >= MIN_REQUESTS, summary
    assert not [status for status in statuses if status >= 500], summary
    assert not SERVER_CODES.intersection(codes), summary
    assert statuses[200] > len(entries) // 2, summary  # served as the user, not refused
    log = fuzz_server.log()
    assert "Traceback" not in log, log[-5000:]
