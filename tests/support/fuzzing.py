"""Running schemathesis' CLI from a test: its output streamed as it comes, its reports read.

Used by the REST and the GraphQL fuzzing suites (tests/security).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import BIN_DIR

SCHEMATHESIS = BIN_DIR / "schemathesis"


def run_streamed(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``command``, echoing each output line as it comes (``make fuzz`` runs pytest with
    ``-s``, so a 15-minute run shows schemathesis' progress instead of nothing); the output is
    also returned, for the assertions' messages. Killed after ``timeout`` s (a test failure)."""
    process = subprocess.Popen(  # a fixed argument list, no shell
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
        returncode = process.wait()
    finally:
        timer.cancel()
        process.kill()  # a no-op once it has exited
    if returncode < 0:
        pytest.fail(f"schemathesis ran past {timeout:g} s: {''.join(lines[-40:])}")
    return subprocess.CompletedProcess(command, returncode, "".join(lines), "")


def only_report(directory: Path, prefix: str) -> dict[str, Any]:
    """The single ``<prefix>-*.json`` report schemathesis wrote."""
    (path,) = sorted((directory / "reports").glob(f"{prefix}-*.json"))
    document: dict[str, Any] = json.loads(path.read_text())
    return document
