"""The instruction-count benchmark (loadtests/instructions.py): its arithmetic, and each
variant's measured process really serving requests and flushing what it traced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import bench, instructions, sinks
from loadtests.instructions import Count, parse_collected, request_path, table
from loadtests.local_server import run_python

CALLGRIND_TAIL = """==4242== Events    : Ir
==4242== Collected : 10608551111
==4242==
==4242== I   refs:      10,608,551,111
"""


def test_the_total_is_read_from_callgrinds_summary() -> None:
    assert parse_collected(CALLGRIND_TAIL) == 10_608_551_111


def test_an_output_without_a_total_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="no callgrind total"):
        parse_collected("valgrind: failed to start tool 'callgrind'")


def test_a_request_costs_the_difference_over_the_extra_requests() -> None:
    count = Count("bare", "retrieve", short=1_000_000, long=6_000_000, requests=50)
    assert count.per_request == 100_000


def test_the_table_gives_each_variant_its_ratio_to_bare_on_the_same_endpoint() -> None:
    counts = [
        Count("bare", "retrieve", 0, 100_000 * 50, 50),
        Count("project@100%", "retrieve", 0, 116_000 * 50, 50),
    ]
    lines = table(counts)
    assert lines[1].split()[-1] == "1.000"
    assert lines[2].split()[-2:] == ["116,000", "1.160"]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("retrieve", ("GET", "/api/todos/7/")),
        ("list", ("GET", "/api/todos/")),
        ("create", ("POST", "/api/todos/")),
    ],
)
def test_the_endpoints_are_the_overhead_benchmarks(
    endpoint: str, expected: tuple[str, str]
) -> None:
    assert request_path(endpoint, 7) == expected


@pytest.fixture(scope="module")
def sink() -> Iterator[sinks.SinkServer]:
    server = sinks.start_sink()
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("variant_name", "item"),
    [("project@100%", "spans"), ("otel-zero-code", "spans"), ("sentry-tracing", "transaction")],
)
def test_each_variant_serves_its_requests_and_flushes_what_it_traced(
    variant_name: str, item: str, sink: sinks.SinkServer, tmp_path: Path
) -> None:
    """Without valgrind (same process, same code): the counts would be meaningless if a
    variant answered errors or never sent its telemetry."""
    (variant,) = [v for v in bench.build_variants(None) if v.name == variant_name]
    env = instructions.variant_environment(variant, tmp_path, sink)
    seeded = instructions.seeded_database(env)
    env = {**env, "BENCH_TOKEN": seeded["token"], "BENCH_TODO_ID": str(seeded["todo_id"])}
    before = sink.stats.item(item)

    result = run_python(["-m", "loadtests.instructions", "--child", "retrieve", "3"], env, 120)

    assert result.returncode == 0, result.stderr[-2000:]
    assert sink.stats.item(item) >= before + 3


def test_every_variant_and_endpoint_is_measured_in_order_on_its_seeded_environment() -> None:
    """The valgrind drivers' shared loop, with a measurement that needs no valgrind."""
    said: list[str] = []
    bare = bench.select_variants(bench.build_variants(None), [])

    def measure_one(variant: bench.Variant, endpoint: str, env: dict[str, str]) -> str:
        assert env["BENCH_TOKEN"]
        assert int(env["BENCH_TODO_ID"]) > 0
        return f"{variant.name} {endpoint}"

    def describe(result: str) -> str:
        said.append(result)
        return result

    results, received = instructions.measure_all(
        bare, ["retrieve", "create"], measure_one, describe
    )

    assert results == ["bare retrieve", "bare create"]
    assert said == results
    assert isinstance(received, dict)


def test_results_are_saved_with_the_machine_and_the_commit(tmp_path: Path) -> None:
    output = tmp_path / "results" / "counts.json"

    instructions.save_results(output, {"short": 1, "counts": []})

    saved = json.loads(output.read_text())
    assert saved["short"] == 1
    assert saved["counts"] == []
    assert saved["machine"]["cores"] >= 1
    assert "commit" in saved
