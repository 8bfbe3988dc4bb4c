"""The environment of a tool the tests drive (schemathesis, Locust, the client generator).

Under ``make test`` coverage.py hands its configuration to every Python child through the
environment (``[tool.coverage.run] patch = subprocess`` in pyproject.toml). A tool imports no
code of ``app/``, so it would record nothing, yet tracing its own code costs it about a third
more CPU, taken from the servers under test on a 2-core machine. Its children start without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# What coverage's .pth file looks for at start-up (coverage.process_startup).
COVERAGE_VARIABLES = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")


def tool_environment(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: this process's) without coverage's start-up variables."""
    inherited = os.environ if environment is None else environment
    return {key: value for key, value in inherited.items() if key not in COVERAGE_VARIABLES}
