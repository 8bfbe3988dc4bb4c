"""Run a snippet of Python in a fresh interpreter at the repository root, as start-up does.

For what only a new process shows: settings read at import, ``gunicorn.conf.py`` executed, a
bad environment variable stopping start-up.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence

from tests.support.servers import REPO_ROOT

TIMEOUT_S = 60


def run_python(
    code: str, env: Mapping[str, str], argv: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -c code *argv`` with exactly ``env``; output captured as text, never raising."""
    return subprocess.run(  # our own interpreter and snippet
        [sys.executable, "-c", code, *argv],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
