"""The master's metrics collector (app.telemetry.prometheus.server) while workers come and go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.telemetry.prometheus.server import ExemplarMultiProcessCollector, sample_files

pytestmark = pytest.mark.database_free

WORKER_SNIPPET = """
from prometheus_client import Counter
Counter("jobs_total", "x").inc(3)
"""


def worker_wrote_samples(directory: Path) -> None:
    """A real process in multiprocess mode leaves its sample file in ``directory``."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", WORKER_SNIPPET], env=env, check=True, timeout=30)


def test_a_sample_file_still_being_created_is_skipped_not_a_failed_scrape(tmp_path: Path) -> None:
    worker_wrote_samples(tmp_path)
    (tmp_path / "counter_4242.db").touch()  # a starting worker's file, not yet sized
    registry = CollectorRegistry()
    registry.register(ExemplarMultiProcessCollector(tmp_path))

    text = generate_latest(registry).decode()

    assert "jobs_total 3.0" in text
    assert str(tmp_path / "counter_4242.db") not in sample_files(tmp_path)


def test_every_ready_sample_file_is_read(tmp_path: Path) -> None:
    worker_wrote_samples(tmp_path)
    worker_wrote_samples(tmp_path)  # two processes, two files, one sum

    registry = CollectorRegistry()
    registry.register(ExemplarMultiProcessCollector(tmp_path))

    assert len(sample_files(tmp_path)) == 2
    assert "jobs_total 6.0" in generate_latest(registry).decode()
