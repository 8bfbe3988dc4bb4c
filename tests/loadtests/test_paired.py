"""loadtests/paired.py: the paired ratio from CPU per request, its summary, and a paired run
of two live servers whose cost per request is known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import paired
from loadtests.worker_cpu import runtime_seconds
from loadtests.wrk import Run
from tests.support.backing_services import binary
from tests.support.busy_http import busy_server


def run(requests: int, cpu: float | None, errors: int = 0) -> Run:
    return Run(
        rps=requests / 6, p50_ms=5.0, p99_ms=9.0, errors=errors, requests=requests,
        cpu_us_per_request=cpu,
    )  # fmt: skip


def test_the_ratio_is_bares_cpu_per_request_over_the_variants_not_the_requests_served() -> None:
    pair = paired.Pair(bare=run(1000, 4000.0), variant=run(950, 5000.0))

    assert pair.ratio == pytest.approx(0.8)
    assert pair.request_ratio == pytest.approx(0.95)


def test_a_pair_without_cpu_or_requests_reads_zero_rather_than_failing() -> None:
    assert paired.Pair(bare=run(1000, None), variant=run(900, 4000.0)).ratio == 0.0
    assert paired.Pair(bare=run(0, 4000.0), variant=run(900, 4000.0)).request_ratio == 0.0


def test_the_summary_is_the_median_with_min_max_errors_and_every_pair() -> None:
    pairs = [
        paired.Pair(bare=run(1000, 4000.0), variant=run(900, 5000.0)),  # 0.8
        paired.Pair(bare=run(1000, 4000.0), variant=run(900, 4000.0, errors=2)),  # 1.0
        paired.Pair(bare=run(1000, 4500.0, errors=1), variant=run(900, 5000.0)),  # 0.9
    ]

    summary = paired.summarize(pairs)

    assert summary["paired_ratio"] == pytest.approx(0.9)
    assert summary["paired_ratio_min"] == pytest.approx(0.8)
    assert summary["paired_ratio_max"] == pytest.approx(1.0)
    assert summary["paired_request_ratio"] == pytest.approx(0.9)
    assert summary["paired_errors"] == 3
    assert len(summary["paired_rounds"]) == 3
    assert summary["paired_rounds"][0]["variant"]["cpu_us_per_request"] == 5000.0


def test_a_paired_run_reads_the_cost_ratio_of_two_live_servers() -> None:
    """One server burns 2 ms of CPU a request, the other 4 ms: the ratio reads about a half
    (each also spends some time in Python's HTTP server), while both served requests over
    the same seconds."""
    binary("wrk", "wrk")
    with busy_server(burn_ms=2) as cheap, busy_server(burn_ms=4) as dear:
        pair = paired.measure(cheap, dear, "retrieve", seconds=2, connections=2)

    assert 0.4 < pair.ratio < 0.7, pair
    assert pair.bare.errors == pair.variant.errors == 0
    assert pair.bare.requests > pair.variant.requests > 50
    assert cheap.requests == pair.bare.requests
    assert dear.requests == pair.variant.requests
    assert pair.variant.cpu_us_per_request is not None
    assert pair.variant.cpu_us_per_request > 4000


def test_a_paired_run_with_the_variant_first_keeps_bare_and_variant_apart() -> None:
    binary("wrk", "wrk")
    with busy_server(burn_ms=2) as cheap, busy_server(burn_ms=4) as dear:
        pair = paired.measure(cheap, dear, "retrieve", seconds=2, connections=2, bare_first=False)

    assert 0.4 < pair.ratio < 0.7, pair
    assert pair.bare.requests == cheap.requests
    assert pair.variant.requests == dear.requests


def state(pid: int) -> str:
    """A process's state letter from /proc (``T``: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_workers_taking_turns_each_run_half_the_time_and_all_run_again_after() -> None:
    """Two processes that would each keep a core busy for the whole second get about half of
    it each when they take turns; neither is left stopped."""
    burn = "while True: pass"
    workers = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
    load = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"], text=True)
    try:
        before = [runtime_seconds(w.pid) for w in workers]
        paired.take_turns([w.pid for w in workers], [load], turn_seconds=0.05)
        used = [runtime_seconds(w.pid) - b for w, b in zip(workers, before, strict=True)]
        states = [
            Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for w in workers
        ]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert all(0.3 < seconds < 0.75 for seconds in used), used
    assert "T" not in states, states
