"""The lean multiprocess values: prometheus_client's files and fork handling, cheaper updates."""

from __future__ import annotations

import os
import subprocess  # nosec B404
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from app.telemetry.prometheus.values import add_together, current_pid

pytestmark = pytest.mark.database_free

# The same updates, made with the lean values and with prometheus_client's own, in two
# directories: what the master's collector reads must be the same, series by series.
SCRIPT = textwrap.dedent(
    """
    import os, sys

    lean = sys.argv[1] == "lean"
    if lean:
        import app.settings  # noqa: F401  # what every Django process and the master load
    from prometheus_client import Counter, Gauge, Histogram, values

    assert getattr(values.ValueClass, "fork_aware", False) is lean, values.ValueClass
    requests = Counter("probe_requests", "x", ["view"])
    latency = Histogram("probe_seconds", "x", buckets=(0.1, 1.0))
    busy = Gauge("probe_busy", "x", multiprocess_mode="livesum")
    peak = Gauge("probe_peak", "x", multiprocess_mode="max")
    requests.labels("list").inc()
    if lean:
        calls = []
        sys.setprofile(lambda frame, event, arg: calls.append(arg) if event == "c_call" else None)
    requests.labels("list").inc(2)
    if lean:
        sys.setprofile(None)
        assert os.getpid not in calls, "a system call per update"
    latency.observe(0.05)
    busy.inc()
    peak.set(4)
    child = os.fork()
    if child == 0:  # a gunicorn worker: its updates go to files of its own
        # first after the fork, several series in one go: they move to the child's files too
        batched = Counter("probe_batched", "x", ["kind"])
        if lean:
            from app.telemetry.prometheus.values import add_together

            add_together(((batched.labels("a")._value, 5), (batched.labels("b")._value, 2)))
        else:
            batched.labels("a").inc(5)
            batched.labels("b").inc(2)
        requests.labels("list").inc(10)
        requests.labels("detail").inc()
        latency.observe(0.5)
        busy.inc(3)
        busy.dec()
        peak.set(7)
        # enough series to grow the file past its first mapping (64 KiB): later writes land
        for n in range(1500):
            Counter(f"probe_many_{n}", "a help text long enough to fill the file quickly").inc(n)
        requests.labels("list").inc(100)
        # what gunicorn's worker exit does: the files close, although values viewed them
        values.close_all_multiprocess_files()
        os._exit(0)
    os.waitpid(child, 0)
    requests.labels("list").inc(1000)
    print(child)
    """
)


def run(tmp_path: Path, kind: str) -> tuple[Path, int]:
    directory = tmp_path / kind
    directory.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "app.settings",
        "DJANGO_DEBUG": "true",
    }
    result = subprocess.run(  # nosec B603  # our interpreter, our script
        [sys.executable, "-c", SCRIPT, kind], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return directory, int(result.stdout.split()[-1])


def merged(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = MultiProcessCollector.merge([str(p) for p in directory.glob("*.db")])
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid"))): s.value
        for family in families
        for s in family.samples
    }


def test_current_pid_is_this_process() -> None:
    assert current_pid() == os.getpid()


def test_lean_values_write_what_prometheus_clients_own_write(tmp_path: Path) -> None:
    lean, lean_child = run(tmp_path, "lean")
    official, _ = run(tmp_path, "official")
    assert merged(lean) == merged(official)
    totals = merged(lean)
    assert totals[("probe_requests_total", (("view", "list"),))] == 1113.0
    assert totals[("probe_busy", ())] == 3.0  # livesum: the parent's 1 and the child's 2
    assert totals[("probe_peak", ())] == 7.0
    assert totals[("probe_many_1499_total", ())] == 1499.0
    assert totals[("probe_batched_total", (("kind", "a"),))] == 5.0
    assert totals[("probe_batched_total", (("kind", "b"),))] == 2.0
    assert f"counter_{lean_child}.db" in {p.name for p in lean.glob("counter_*.db")}


def test_add_together_updates_in_memory_values_by_their_own_inc() -> None:
    registry = CollectorRegistry()
    counted = Counter("c", "h", ["view"], registry=registry)
    latency = Histogram("l_seconds", "h", buckets=(0.1, 1.0), registry=registry)
    add_together(((counted.labels("a")._value, 3), (latency._sum, 0.5), (latency._buckets[1], 1)))
    assert registry.get_sample_value("c_total", {"view": "a"}) == 3.0
    assert registry.get_sample_value("l_seconds_sum") == 0.5
    assert registry.get_sample_value("l_seconds_bucket", {"le": "1.0"}) == 1.0
    assert registry.get_sample_value("l_seconds_bucket", {"le": "0.1"}) == 0.0
