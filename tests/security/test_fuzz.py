"""Property-based fuzzing of every operation in the served OpenAPI schema (schemathesis CLI).

The real gunicorn server on a fresh database; schemathesis reads ``/api/schema/`` from it,
authenticates as a freshly registered (non-staff) user and runs its coverage, fuzzing and
stateful (OpenAPI links) phases with every check, among them ``not_a_server_error`` and
``response_schema_conformance``. The run must end with zero failures, and the counts come
from schemathesis' own JSON report and HAR log, not from the command line we passed.

``FUZZ_EXAMPLES`` (examples per operation and phase), ``FUZZ_SEED`` and ``FUZZ_TIMEOUT_S``
tune a run; ``make fuzz`` is the long one.

Nothing is excluded. Two operations are exercised with a caveat, configured below:

- the fault switch (``/api/faults/``) is fuzzed as a non-staff user, so only its 401/403
  paths run: as staff, a generated ``PUT`` would switch on injected 500s and latency for
  every worker and the run would measure the faults, not the API. Its input validation is
  covered by tests/faults/test_api.py.
- ``POST /api/auth/register/`` may refuse schema-valid bodies with its documented 400:
  Django's password validators (too common, entirely numeric, too similar to the username)
  and a taken username cannot be written as JSON Schema, so ``positive_data_acceptance``
  accepts 400 there (every other check still applies).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.accounts import create_account
from tests.support.fuzzing import SCHEMATHESIS, only_report, run_streamed
from tests.support.openapi import generate_schema, operations
from tests.support.servers import Server
from tests.support.tools import tool_environment

# PostgreSQL pass only: the deployment database, and SQLite serialises the writes (108 s vs 33 s).
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261127"))
FUZZ_TIMEOUT_S = float(os.environ.get("FUZZ_TIMEOUT_S", "240"))
MIN_REQUESTS = 1000


CONFIG = """\
# Written by tests/security/test_fuzz.py for one run; the token comes from the environment.
headers = { Authorization = "Bearer ${FUZZ_TOKEN}" }

[[operations]]
include-operation-id = "auth_register_create"
# Password validators and unique usernames refuse some schema-valid bodies (documented 400).
checks.positive_data_acceptance.expected-statuses = [201, 400]
"""


def run_schemathesis(
    server: Server, token: str, directory: Path
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` against the server's schema; reports (JSON, HAR) in ``directory``."""
    config = directory / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{server.url}/api/schema/",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(FUZZ_EXAMPLES),
        "--seed",
        str(FUZZ_SEED),
        # One worker: CPython 3.11's AST constructor keeps its recursion depth per interpreter,
        # so two threads parsing at once (Hypothesis describing a lambda) can raise the spurious
        # "AST constructor recursion depth mismatch" SystemError (cpython gh-106905); CI hit it.
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--report",
        "json,har,junit",
        "--report-dir",
        str(directory / "reports"),
    ]
    return run_streamed(
        command,
        cwd=directory,
        env={**tool_environment(), "FUZZ_TOKEN": token, "NO_COLOR": "1"},
        timeout=FUZZ_TIMEOUT_S,
    )


def test_fuzzing_every_operation_finds_no_server_error_and_no_schema_violation(
    fuzz_server: Server, tmp_path: Path
) -> None:
    """Over 1000+ generated requests: exit 0, no failures, no 5xx, every operation tested."""
    token = create_account(fuzz_server).access
    started = time.monotonic()
    result = run_schemathesis(fuzz_server, token, tmp_path)
    duration = time.monotonic() - started
    output = f"{result.stdout}\n{result.stderr}"

    report = only_report(tmp_path, "json")
    entries = only_report(tmp_path, "har")["log"]["entries"]
    statuses = Counter(int(entry["response"]["status"]) for entry in entries)
    summary = (
        f"{len(entries)} requests in {duration:.0f} s, statuses {dict(sorted(statuses.items()))}"
    )
    print(summary)  # noqa: T201  # shown with -s / -rA: the size of the run

    assert result.returncode == 0, output
    assert report["failures"] == [], output
    assert report["errors"] == [], output
    assert report["complete"] is True, output
    assert report["stop_reason"] == "completed", output
    # Every operation the schema documents (tests/api/test_schema.py pins the list).
    assert report["operations"]["tested"] == len(operations(generate_schema())), report[
        "operations"
    ]
    assert report["operations"]["errored"] == 0, report["operations"]
    assert {phase: value["status"] for phase, value in report["phases"].items()} == {
        "examples": "skip",  # the schema has no examples to replay
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }, output
    assert report["test_cases"]["generated"] >= MIN_REQUESTS, summary
    assert len(entries) >= MIN_REQUESTS, summary
    assert not [status for status in statuses if status >= 500], summary
    # the token stayed valid: most requests were served as the user, not refused as anonymous
    assert statuses[401] < len(entries) // 4, summary
    # and no worker crashed or hung on the way
    log = fuzz_server.log()
    assert "Traceback" not in log, log[-5000:]
    assert "WORKER TIMEOUT" not in log, log[-5000:]
    assert fuzz_server.process.poll() is None
