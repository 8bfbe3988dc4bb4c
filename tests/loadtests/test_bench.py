"""loadtests/bench.py without servers: wrk parsing, worker CPU from /proc, ratios, variants
and what the sinks decode."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from loadtests import bench
from loadtests.bench import Run
from loadtests.local_server import run_python
from tests.support.ports import closed_port

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
def test_parse_wrk_reads_throughput_percentiles_total_and_every_kind_of_error() -> None:
    run = bench.parse_wrk(WRK_OUTPUT)

    assert run == Run(rps=561.07, p50_ms=7.06, p99_ms=1020.0, errors=15, requests=3367)
    assert run.cpu_us_per_request is None  # measured around wrk, not parsed from it


def test_parse_wrk_converts_microseconds_and_counts_no_errors_when_wrk_reports_none() -> None:
    run = bench.parse_wrk(CLEAN_WRK_OUTPUT)

    assert run.p50_ms == pytest.approx(0.85)
    assert run.p99_ms == 2.5
    assert run.requests == 1234
    assert run.errors == 0


def test_parse_wrk_says_what_is_missing_instead_of_failing_obscurely() -> None:
    truncated = CLEAN_WRK_OUTPUT.replace("  1234 requests in 3.00s, 0.50MB read\n", "")

    with pytest.raises(ValueError, match="requests in"):
        bench.parse_wrk(truncated)


# ------------------------------------------------------------------ worker CPU from /proc
STAT = (
    "4242 (gunicorn: worker (todo-api)) S 4241 4241 4241 0 -1 4194560 5133 0 0 0 "
    "1500 250 0 0 20 0 3 0 123456 300000000 20000 18446744073709551615 1 1 0 0 0 0 0 "
    "16781312 134235650 0 0 0 17 0 0 0 0 0 0"
)


def test_parse_proc_stat_adds_utime_and_stime_after_a_command_name_with_spaces_and_parens() -> None:
    assert bench.parse_proc_stat(STAT) == 1500 + 250


def test_cpu_seconds_divides_ticks_by_the_clock_rate(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text(STAT + "\n")

    seconds = bench.cpu_seconds(4242, proc=tmp_path)

    assert seconds == pytest.approx(1750 / os.sysconf("SC_CLK_TCK"))


def test_cpu_seconds_of_a_real_process_grows_while_it_computes() -> None:
    before = bench.cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass

    assert bench.cpu_seconds(os.getpid()) - before >= 0.05


def test_worker_pid_is_the_masters_only_child(tmp_path: Path) -> None:
    task = tmp_path / "100" / "task" / "100"
    task.mkdir(parents=True)
    (task / "children").write_text("101 ")

    assert bench.worker_pid(100, proc=tmp_path) == 101

    (task / "children").write_text("101 102 ")
    with pytest.raises(RuntimeError, match="expected one"):
        bench.worker_pid(100, proc=tmp_path, timeout=0)


def test_parse_cpu_times_leaves_out_idle_iowait_and_the_all_cores_line() -> None:
    text = "cpu  10 0 10 100 5 0 0 0 0 0\ncpu0 4 1 2 50 3 0 0 0 7 0\nintr 1 2 3\n"

    assert bench.parse_cpu_times(text) == {"cpu0": (7, 60)}


# ------------------------------------------------------------------ summary and ratios
def run(rps: float, cpu: float | None = 1000.0, errors: int = 0) -> Run:
    return Run(
        rps=rps, p50_ms=rps / 100, p99_ms=rps / 10, errors=errors, requests=int(rps),
        cpu_us_per_request=cpu,
    )  # fmt: skip


def test_the_ratio_is_the_median_of_per_round_ratios_not_a_ratio_of_medians() -> None:
    rounds = {
        "retrieve": {
            "bare": [run(100), run(200), run(400)],
            "otel-zero-code": [run(90, 2000), run(100, 2000), run(300, 1000)],
        }
    }

    row = bench.summarize(rounds)["retrieve"]["otel-zero-code"]

    # per round 0.9, 0.5, 0.75; a ratio of medians would say 150 / 200 = 0.75
    assert row["ratio"] == 0.75
    assert (row["ratio_min"], row["ratio_max"]) == (0.5, 0.9)
    assert row["rps"] == 100
    assert row["p50_ms"] == 1.0
    assert row["p99_ms"] == 10.0
    assert row["cpu_us_per_request"] == 2000
    assert row["cpu_ratio"] == 2.0
    assert row["requests"] == 490
    assert row["errors"] == 0
    assert len(row["rounds"]) == 3
    assert "bare_rps" not in row


def test_bare_is_one_and_project_variants_carry_the_names_the_targets_use() -> None:
    rounds = {
        "list": {
            "bare": [run(100), run(120)],
            "project@100%": [run(60, errors=1), run(84, errors=2)],
        }
    }

    summary = bench.summarize(rounds)["list"]

    assert summary["bare"]["ratio"] == 1.0
    project = summary["project@100%"]
    assert project["bare_rps"] == 110
    assert project["instrumented_rps"] == project["rps"] == 72
    assert project["ratio"] == pytest.approx(0.65)  # median of 0.6 and 0.7
    assert project["errors"] == 3


def test_cpu_is_left_out_when_no_run_measured_it() -> None:
    rounds = {"create": {"bare": [run(100, cpu=None)], "sentry-tracing": [run(50, cpu=None)]}}

    row = bench.summarize(rounds)["create"]["sentry-tracing"]

    assert row["cpu_us_per_request"] is None
    assert row["cpu_ratio"] is None


def test_problems_name_runs_with_errors() -> None:
    summary = bench.summarize({"create": {"bare": [run(100)], "x": [run(90, errors=4)]}})

    assert bench.problems(summary, []) == ["create x: 4 errors"]


# ------------------------------------------------------------------ variants
def test_every_variant_in_round_order_and_no_extra_one_at_the_production_ratio() -> None:
    variants = bench.build_variants(0.1)

    assert [v.name for v in variants] == [
        "bare", "project@100%", "project@10%", "project@10%+cache", "otel-zero-code",
        "sentry-tracing",
    ]  # fmt: skip
    by_name = {v.name: v for v in variants}
    assert by_name["bare"].env == {"TELEMETRY_ENABLED": "false"}
    assert by_name["project@100%"].env == {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    assert by_name["project@10%"].env == {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    zero_code = by_name["otel-zero-code"]
    assert zero_code.env["TELEMETRY_ENABLED"] == "false"
    assert zero_code.env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert zero_code.launcher[0].endswith("opentelemetry-instrument")
    assert by_name["sentry-tracing"].app_module == "loadtests.bench_apps.sentry_wsgi:application"


def test_a_production_ratio_other_than_ten_percent_adds_a_project_variant() -> None:
    names = [v.name for v in bench.build_variants(0.25)]

    assert names[:5] == ["bare", "project@100%", "project@10%", "project@25%", "project@10%+cache"]
    assert [v.name for v in bench.build_variants(None)] == [
        v.name for v in bench.build_variants(0.1)
    ]


def test_production_ratio_is_read_from_the_overlays_config_map_literals(tmp_path: Path) -> None:
    overlay = tmp_path / "kustomization.yaml"
    overlay.write_text(
        "configMapGenerator:\n"
        "  - name: todo-api-config\n"
        "    literals:\n"
        "      - OTEL_TRACES_SAMPLER=parentbased_traceidratio\n"
        "      - OTEL_TRACES_SAMPLER_ARG=0.05\n"
    )

    assert bench.production_sampler_ratio(overlay) == 0.05
    assert bench.production_sampler_ratio(tmp_path / "missing.yaml") is None
    overlay.write_text("resources: [a.yaml]\n")
    assert bench.production_sampler_ratio(overlay) is None


def test_the_real_production_overlay_has_a_ratio_between_zero_and_one() -> None:
    ratio = bench.production_sampler_ratio()

    assert ratio is not None
    assert 0 < ratio <= 1


def test_the_cached_variant_is_project_at_ten_percent_plus_the_response_cache() -> None:
    """Same telemetry as ``project@10%``; Redis at 127.0.0.1:6379 under keys of its own."""
    by_name = {v.name: v for v in bench.build_variants(0.1)}
    cached, plain = by_name["project@10%+cache"], by_name["project@10%"]

    assert cached.speedup_over == "project@10%"
    assert {k: v for k, v in cached.env.items() if k in plain.env} == plain.env
    assert cached.env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert cached.env["RESPONSE_CACHE_SECONDS"] == "60"
    assert cached.env["CACHE_KEY_PREFIX"].startswith("bench-")
    assert (cached.exports, cached.sampled) == (plain.exports, plain.sampled)
    assert bench.cached_variant("redis://redis:6379/3").env["REDIS_URL"] == "redis://redis:6379/3"


def test_choosing_the_cached_variant_brings_the_one_it_is_compared_with() -> None:
    chosen = bench.select_variants(bench.build_variants(0.1), ["project@10%+cache"])

    assert [v.name for v in chosen] == ["bare", "project@10%", "project@10%+cache"]


def test_the_speedup_is_the_median_of_per_round_throughput_ratios() -> None:
    rounds = {
        "list": {
            "bare": [run(200), run(200), run(200)],
            "project@10%": [run(100), run(120), run(80)],
            "project@10%+cache": [run(250), run(240), run(240)],
        }
    }

    summary = bench.summarize(rounds, {"project@10%+cache": "project@10%"})["list"]

    cached = summary["project@10%+cache"]
    # per round 2.5, 2.0, 3.0
    assert (cached["speedup"], cached["speedup_min"], cached["speedup_max"]) == (2.5, 2.0, 3.0)
    assert cached["speedup_over"] == "project@10%"
    assert "speedup" not in summary["project@10%"]
    assert "speedup" not in bench.summarize(rounds)["list"]["project@10%+cache"]


def test_a_variant_whose_redis_does_not_answer_is_refused_before_any_server_starts() -> None:
    down = bench.cached_variant(f"redis://127.0.0.1:{closed_port()}/0")

    problem = bench.redis_missing([bench.project_variant(0.1), down])

    assert problem is not None
    assert problem.startswith("project@10%+cache needs Redis at redis://127.0.0.1:")
    assert bench.redis_missing([bench.project_variant(0.1)]) is None


def test_subsets_always_keep_bare_and_the_round_order() -> None:
    variants = bench.build_variants(0.1)

    chosen = bench.select_variants(variants, ["sentry-tracing", "project@10%"])

    assert [v.name for v in chosen] == ["bare", "project@10%", "sentry-tracing"]
    assert bench.select_variants(variants, None) == variants


@pytest.mark.parametrize(
    ("ratio", "expected"), [(1.0, "100%"), (0.1, "10%"), (0.2, "20%"), (0.125, "12.5%")]
)
def test_percent(ratio: float, expected: str) -> None:
    assert bench.percent(ratio) == expected


def test_slug_makes_variant_names_safe_file_names() -> None:
    assert bench.slug("project@10%") == "project-10pct"
    assert bench.slug("otel-zero-code") == "otel-zero-code"


def test_each_exporting_variant_is_pointed_at_its_own_sink() -> None:
    by_name = {v.name: v for v in bench.build_variants(0.1)}
    url = "http://127.0.0.1:4318"

    assert bench.sink_env(by_name["bare"], url) == {}
    assert bench.sink_env(by_name["otel-zero-code"], url) == {"OTEL_EXPORTER_OTLP_ENDPOINT": url}
    assert bench.sink_env(by_name["sentry-tracing"], url) == {
        "BENCH_SENTRY_DSN": "http://publickey@127.0.0.1:4318/1"
    }


def test_the_server_environment_drops_inherited_telemetry_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example/1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "shared"))

    env = bench.base_environment(tmp_path, "bare", 8000)

    assert not {"OTEL_TRACES_SAMPLER", "SENTRY_DSN", "PROMETHEUS_MULTIPROC_DIR"} & set(env)
    assert env["WEB_CONCURRENCY"] == "1"
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'bare'}.sqlite3"


# ------------------------------------------------------------------ sinks
def otlp_request(spans: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for n in range(spans):
        scope.spans.add(name=f"span {n}")
    body: bytes = request.SerializeToString()
    return body


def envelope() -> bytes:
    transaction = json.dumps({"type": "transaction", "transaction": "GET /"}).encode()
    report = json.dumps({"discarded_events": []}).encode()
    return b"\n".join(
        [
            json.dumps({"event_id": "abc"}).encode(),
            json.dumps({"type": "transaction", "length": len(transaction)}).encode(),
            transaction,
            json.dumps({"type": "client_report"}).encode(),
            report,
            b"",
        ]
    )


def test_otlp_trace_exports_are_counted_in_spans() -> None:
    assert bench.decode_items("/v1/traces", otlp_request(3), "") == {"spans": 3}
    assert bench.decode_items("/v1/traces", gzip.compress(otlp_request(2)), "gzip") == {"spans": 2}
    assert bench.decode_items("/v1/metrics", b"\x00\x01", "") == {}


@pytest.mark.parametrize("encoding", ["", "gzip", "br"])
def test_sentry_envelopes_are_counted_per_item_type(encoding: str) -> None:
    compress: Callable[[bytes], bytes] = bytes
    if encoding == "gzip":
        compress = gzip.compress
    elif encoding == "br":  # Sentry's choice when Brotli is installed (Locust brings it)
        compress = pytest.importorskip("brotli").compress

    items = bench.decode_items("/api/1/envelope/", compress(envelope()), encoding)

    assert items == {"transaction": 1, "client_report": 1}


def test_a_body_that_cannot_be_decoded_is_counted_not_fatal() -> None:
    assert bench.decode_items("/v1/traces", b"not gzip", "gzip") == {"undecodable": 1}
    assert bench.decode_items("/api/1/envelope/", b"{}\nnot json\n", "") == {"undecodable": 1}


def test_sink_stats_count_requests_bytes_and_items_per_path() -> None:
    stats = bench.SinkStats()
    stats.add("/v1/traces", 100, {"spans": 3})
    stats.add("/v1/traces", 50, {"spans": 2})
    stats.add("/v1/metrics", 10, {})

    assert stats.snapshot() == {
        "/v1/metrics": {"requests": 1, "bytes": 10, "items": {}},
        "/v1/traces": {"requests": 2, "bytes": 150, "items": {"spans": 5}},
    }
    assert stats.item("spans") == 5
    assert stats.item("transaction") == 0


def test_runs_that_shared_the_server_core_with_other_work_are_flagged() -> None:
    noisy = replace(run(100), other_cpu_pct=40.0)
    rounds = {"list": {"bare": [run(100), noisy], "otel-zero-code": [run(90), run(80)]}}

    assert bench.noise_warnings(rounds) == [
        "list round 2 bare: 40% of the server core went to other work (another benchmark or "
        "test run?); compare with care"
    ]


def test_the_help_text_renders() -> None:
    """Variant names carry ``%``, which argparse would read as a format directive."""
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    assert exit_info.value.code == 0


@pytest.mark.parametrize("driver", ["loadtests.bench", "loadtests.soak"])
def test_the_drivers_start_as_the_makefile_runs_them(driver: str) -> None:
    """``make bench`` and ``make soak`` run ``python -m loadtests.<driver>`` from the root; a
    driver run as a file path would not find the ``loadtests`` package it imports."""
    result = run_python(["-m", driver, "--help"], os.environ)

    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
