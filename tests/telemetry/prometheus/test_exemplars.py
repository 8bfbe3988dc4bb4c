"""Exemplars shared by workers through files and merged by the master's collector."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from app.telemetry.prometheus.exemplars import (
    ExemplarWriter,
    StoredExemplar,
    read_exemplars,
    remove_exemplars,
)
from app.telemetry.prometheus.server import ExemplarMultiProcessCollector, GunicornCollector

pytestmark = pytest.mark.database_free

SAMPLE = "latency_seconds_bucket"


def exemplar(trace: str, *, le: str = "0.1", at: float = 1.0) -> StoredExemplar:
    return StoredExemplar(
        sample=SAMPLE,
        labels={"view": "todo-list", "le": le},
        trace_id=trace * 32,
        span_id="1" * 16,
        value=0.07,
        timestamp=at,
    )


def test_a_writer_flushes_its_exemplars_to_its_own_file(tmp_path: Path) -> None:
    writer = ExemplarWriter(tmp_path, background=False)
    writer.record(exemplar("a"))
    writer.flush()

    assert (tmp_path / f"exemplars_{os.getpid()}.json").exists()
    assert list(read_exemplars(tmp_path).values()) == [exemplar("a")]


def test_the_newest_exemplar_of_a_bucket_wins_across_workers(tmp_path: Path) -> None:
    older, newer = (
        ExemplarWriter(tmp_path, background=False),
        ExemplarWriter(tmp_path, background=False),
    )
    newer._path = tmp_path / "exemplars_2.json"
    older._path = tmp_path / "exemplars_1.json"
    older.record(exemplar("a", at=1.0))
    newer.record(exemplar("b", at=2.0))
    older.flush()
    newer.flush()

    (merged,) = read_exemplars(tmp_path).values()
    assert merged.trace_id == "b" * 32


def test_a_dead_workers_exemplars_are_forgotten(tmp_path: Path) -> None:
    writer = ExemplarWriter(tmp_path, background=False)
    writer.record(exemplar("a"))
    writer.flush()

    remove_exemplars(tmp_path, os.getpid())

    assert read_exemplars(tmp_path) == {}


def test_a_corrupt_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "exemplars_3.json").write_text("{not json")

    assert read_exemplars(tmp_path) == {}


def test_the_writer_thread_flushes_within_a_few_seconds(tmp_path: Path) -> None:
    writer = ExemplarWriter(tmp_path)
    writer.record(exemplar("c"))

    deadline = time.monotonic() + 5
    while not read_exemplars(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(read_exemplars(tmp_path).values()) == [exemplar("c")]


WORKER_SNIPPET = """
from prometheus_client import Histogram
Histogram("latency_seconds", "x", ["view"], buckets=(0.1, 1)).labels("todo-list").observe(0.07)
"""


def test_the_master_attaches_exemplars_to_the_matching_bucket(tmp_path: Path) -> None:
    """A real worker process writes samples; the master's collector adds our exemplars."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", WORKER_SNIPPET], env=env, check=True, timeout=30)
    writer = ExemplarWriter(tmp_path, background=False)
    writer.record(exemplar("d", le="0.1"))
    writer.flush()
    registry = CollectorRegistry()
    registry.register(ExemplarMultiProcessCollector(tmp_path))

    families = {
        f.name: f for f in text_string_to_metric_families(generate_openmetrics(registry).decode())
    }

    buckets = {
        s.labels["le"]: s for s in families["latency_seconds"].samples if s.name.endswith("_bucket")
    }
    assert buckets["0.1"].value == 1
    assert buckets["0.1"].exemplar.labels == {"trace_id": "d" * 32, "span_id": "1" * 16}
    assert buckets["0.1"].exemplar.value == 0.07
    assert buckets["1.0"].exemplar is None
    assert "latency_seconds_bucket" in generate_latest(registry).decode()  # text format too


def test_the_master_reports_workers_and_their_processes() -> None:
    registry = CollectorRegistry()
    registry.register(GunicornCollector(lambda: [os.getpid()], lambda: 2))

    text = generate_openmetrics(registry).decode()

    assert "todos_gunicorn_workers 1.0" in text
    assert "todos_gunicorn_worker_exits_total 2.0" in text
    assert f'process_resident_memory_bytes{{pid="{os.getpid()}",role="worker"}}' in text
    assert 'role="master"' in text
