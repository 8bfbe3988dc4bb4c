"""Run a snippet of Python in a fresh interpreter at the repository root, as start-up does.

For what only a new process shows: settings read at import, ``gunicorn.conf.py`` executed, a
bad environment variable stopping start-up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from loadtests import local_server

TIMEOUT_S = 60


def run_python(
    code: str, env: Mapping[str, str], argv: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -c code *argv`` with exactly ``env``; output captured as text, never raising."""
    return local_server.run_python(["-c", code, *argv], env, TIMEOUT_S)
