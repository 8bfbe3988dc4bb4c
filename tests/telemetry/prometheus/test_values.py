"""The fork-aware multiprocess values: no getpid per update, still one file per process."""

from __future__ import annotations

import os
import subprocess  # nosec B404
import sys
import textwrap
from pathlib import Path

import pytest

from app.telemetry.prometheus.values import current_pid

pytestmark = pytest.mark.database_free

CHILD = textwrap.dedent(
    """
    import os, sys

    import app.settings  # noqa: F401  # what every Django process and gunicorn's master load
    from prometheus_client import Counter, values

    assert values.ValueClass.fork_aware, values.ValueClass
    requests = Counter("probe_requests", "x")
    requests.inc()
    calls = []
    sys.setprofile(lambda frame, event, arg: calls.append(arg) if event == "c_call" else None)
    requests.inc(2)
    sys.setprofile(None)
    assert os.getpid not in calls, "a system call per update"
    child = os.fork()
    if child == 0:  # a gunicorn worker: its updates go to a file of its own
        requests.inc(10)
        os._exit(0)
    os.waitpid(child, 0)
    print(child)
    """
)


def test_current_pid_is_this_process() -> None:
    assert current_pid() == os.getpid()


def test_updates_make_no_getpid_call_and_a_forked_child_writes_its_own_file(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DJANGO_DEBUG": "true",
    }
    result = subprocess.run(  # nosec B603  # our interpreter, our script
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    child = int(result.stdout.split()[-1])
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    files = sorted(p.name for p in tmp_path.glob("counter_*.db"))
    assert len(files) == 2, files
    assert f"counter_{child}.db" in files
    merged = MultiProcessCollector.merge([str(p) for p in tmp_path.glob("*.db")])
    totals = {
        s.name: s.value for metric in merged for s in metric.samples if s.name.startswith("probe")
    }
    assert totals == {"probe_requests_total": 13.0}
