"""A Python client generated from the served schema by openapi-python-client, as a new user
of the API would make one, imported from a temporary directory."""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.http import http
from tests.support.servers import BIN_DIR, Server
from tests.support.tools import tool_environment

GENERATOR = BIN_DIR / "openapi-python-client"
PACKAGE = "todo_api_client"
GENERATE_TIMEOUT_S = 120.0
# the generator's formatting hooks (ruff) are left out: they change layout, not behaviour
CONFIG = "# Written by tests/support/generated_client.py for one generation.\npost_hooks: []\n"


def generate(server: Server, directory: Path) -> Path:
    """Download ``/api/schema/`` from ``server`` and generate the package ``PACKAGE`` in
    ``directory``; return ``directory`` (the import root). Skip when the generator is missing."""
    if not GENERATOR.exists():
        pytest.skip(
            "openapi-python-client is not installed: .venv/bin/pip install -r requirements/dev.txt"
        )
    schema = http("GET", f"{server.url}/api/schema/?format=json")
    assert schema.status == 200, schema
    assert isinstance(schema.body, dict), schema.headers
    schema_path = directory / "schema.json"
    schema_path.write_text(json.dumps(schema.body))
    config_path = directory / "generator.yaml"
    config_path.write_text(CONFIG)
    command = [
        str(GENERATOR),
        "generate",
        "--path",
        str(schema_path),
        "--config",
        str(config_path),
        "--meta",
        "none",
        "--output-path",
        str(directory / PACKAGE),
    ]
    result = subprocess.run(
        command,
        env=tool_environment(),
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT_S,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, output
    # every part of the schema understood: the generator warns about what it skips
    assert "Warning" not in output, output
    assert "Error" not in output, output
    return directory


@contextlib.contextmanager
def imported(root: Path) -> Iterator[ModuleType]:
    """The generated package imported from ``root``; removed from ``sys.modules`` afterwards."""
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]
