"""loadtests/wrk.py: what wrk's output says, and runs started together against live servers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loadtests import wrk
from loadtests.wrk import Run
from tests.support.backing_services import binary
from tests.support.busy_http import BusyServer, busy_server

WRK_OUTPUT = """\
Running 6s test @ http://127.0.0.1:41969/api/todos/25/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.12ms    1.01ms  21.30ms   91.02%
    Req/Sec   561.23     20.11   600.00     70.00%
  Latency Distribution
     50%    7.06ms
     75%    7.40ms
     90%    7.90ms
     99%    1.02s
  3367 requests in 6.00s, 1.41MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:    561.07
Transfer/sec:    240.52KB
"""

CLEAN_WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:1/api/todos/
  1 threads and 4 connections
  Latency Distribution
     50%  850.00us
     75%    1.00ms
     90%    1.20ms
     99%    2.50ms
  1234 requests in 3.00s, 0.50MB read
Requests/sec:    411.33
Transfer/sec:    170.00KB
"""


# ------------------------------------------------------------------ wrk output
def test_parse_reads_throughput_percentiles_total_and_every_kind_of_error() -> None:
    run = wrk.parse(WRK_OUTPUT)

    assert run == Run(rps=561.07, p50_ms=7.06, p99_ms=1020.0, errors=15, requests=3367)
    assert run.cpu_us_per_request is None  # measured around wrk, not parsed from it


def test_parse_converts_microseconds_and_counts_no_errors_when_wrk_reports_none() -> None:
    run = wrk.parse(CLEAN_WRK_OUTPUT)

    assert run.p50_ms == pytest.approx(0.85)
    assert run.p99_ms == 2.5
    assert run.requests == 1234
    assert run.errors == 0


def test_parse_says_what_is_missing_instead_of_failing_obscurely() -> None:
    truncated = CLEAN_WRK_OUTPUT.replace("  1234 requests in 3.00s, 0.50MB read\n", "")

    with pytest.raises(ValueError, match="requests in"):
        wrk.parse(truncated)


# ------------------------------------------------------------------ runs against live servers
def test_the_request_script_posts_a_json_body_for_create_and_is_removed_after() -> None:
    target = BusyServer(process=None, url="http://127.0.0.1:1", token="abc")  # type: ignore[arg-type]

    with wrk.script_for(target, "create") as path:
        text = Path(path).read_text()
    with wrk.script_for(target, "list") as get_path:
        get_text = Path(get_path).read_text()

    assert 'wrk.method = "POST"' in text
    assert 'wrk.body = \'{"title": "benchmark"}\'' in text
    assert 'wrk.headers["Authorization"] = "Bearer abc"' in text
    assert 'wrk.method = "GET"' in get_text
    assert "wrk.body" not in get_text
    assert not Path(path).exists()
    assert not Path(get_path).exists()


def test_runs_together_load_every_server_over_the_same_seconds() -> None:
    binary("wrk", "wrk")
    with busy_server(burn_ms=1) as first, busy_server(burn_ms=1) as second:
        started = time.monotonic()
        outputs = wrk.run_together([first, second], "retrieve", seconds=2, connections=2)
        elapsed = time.monotonic() - started

    runs = [wrk.parse(output) for output in outputs]
    assert all(run.requests > 50 and run.errors == 0 for run in runs), runs
    # two 2-second runs one after the other would take 4 s
    assert 2 <= elapsed < 3.5
