"""loadtests/bench.py without servers: ratios, paired figures, targets, variants and what the
sinks decode."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from loadtests import bench, paired
from loadtests.local_server import run_python
from loadtests.wrk import Run
from tests.support.ports import closed_port


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


@pytest.mark.parametrize(
    "driver",
    [
        "loadtests.bench",
        "loadtests.soak",
        "loadtests.instructions",
        "loadtests.cycles",
        "loadtests.bytecodes",
    ],
)
def test_the_drivers_start_as_the_makefile_runs_them(driver: str) -> None:
    """``make bench`` and ``make soak`` run ``python -m loadtests.<driver>`` from the root; a
    driver run as a file path would not find the ``loadtests`` package it imports."""
    result = run_python(["-m", driver, "--help"], os.environ)

    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


# ------------------------------------------------------------------ paired figures and targets
def pair(bare_cpu: float, variant_cpu: float) -> paired.Pair:
    return paired.Pair(bare=run(100, bare_cpu), variant=run(90, variant_cpu))


def test_paired_figures_join_their_variants_and_the_twins_go_to_bare() -> None:
    rounds = {"list": {"bare": [run(100)], "project@100%": [run(80)]}}
    pairs = {"list": {bench.TWIN: [pair(4000, 4000)], "project@100%": [pair(4000, 4400)]}}

    summary = bench.add_pairs(bench.summarize(rounds), pairs)

    assert summary["list"]["bare"]["paired_ratio"] == pytest.approx(1.0)
    assert summary["list"]["project@100%"]["paired_ratio"] == pytest.approx(4000 / 4400)
    assert "paired_ratio_over_control" not in summary["list"]["bare"]
    assert summary["list"]["project@100%"]["ratio"] == pytest.approx(0.8)  # sequential kept
    assert bench.TWIN not in summary["list"]


def test_a_control_that_reads_off_one_is_divided_out_of_every_variants_paired_ratio() -> None:
    rounds = {"list": {"bare": [run(100)], "project@10%": [run(90)]}}
    pairs = {"list": {bench.TWIN: [pair(4080, 4000)], "project@10%": [pair(4000, 4200)]}}

    summary = bench.add_pairs(bench.summarize(rounds), pairs)

    assert summary["list"]["bare"]["paired_ratio"] == pytest.approx(1.02)
    row = summary["list"]["project@10%"]
    assert row["paired_ratio_over_control"] == pytest.approx(4000 / 4200 / 1.02)
    assert bench.verdict(summary)[0]["value"] == round(4000 / 4200 / 1.02, 3)


def test_the_targets_are_read_from_the_paired_ratio_and_say_met_or_missed() -> None:
    def row(sequential: float, paired_ratio: float | None = None) -> dict[str, float]:
        found = {"ratio": sequential}
        return found if paired_ratio is None else {**found, "paired_ratio": paired_ratio}

    summary = {
        "create": {
            "bare": row(1.0, 1.0),
            "project@100%": row(0.70, 0.86),
            "project@10%": row(1.10, 0.94),
            "otel-zero-code": row(0.95, 0.80),
            "sentry-tracing": row(0.50),  # no pair ran: the sequential ratio
        }
    }

    found = {item["target"]: item for item in bench.verdict(summary)}

    assert found["project@100% >= 0.85 of bare"] == {
        "endpoint": "create", "target": "project@100% >= 0.85 of bare", "value": 0.86, "met": True,
    }  # fmt: skip
    assert found["project@10% >= 0.95 of bare"]["met"] is False
    assert found["project@10% >= 0.95 of bare"]["value"] == 0.94
    assert found["project@100% ahead of otel-zero-code"]["met"] is True
    assert found["project@100% ahead of otel-zero-code"]["against"] == 0.80
    assert found["project@100% ahead of sentry-tracing"]["against"] == 0.50
    assert len(found) == 4


def test_a_subset_without_project_variants_has_no_targets() -> None:
    assert bench.verdict({"list": {"bare": {"ratio": 1.0}, "sentry-tracing": {"ratio": 0.5}}}) == []


def test_paired_errors_fail_the_run() -> None:
    summary = {"list": {"project@10%": {"errors": 0, "paired_errors": 3}}}

    assert bench.problems(summary, []) == ["list project@10%: 3 errors"]


def test_the_table_shows_paired_ratios_and_the_verdict_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rounds = {"list": {"bare": [run(100)], "project@10%": [run(90)]}}
    pairs = {"list": {bench.TWIN: [pair(4000, 4040)], "project@10%": [pair(4000, 4300)]}}
    summary = bench.add_pairs(bench.summarize(rounds), pairs)

    bench.print_table(summary)
    bench.print_verdict(bench.verdict(summary))

    out = capsys.readouterr().out
    assert "0.990 (0.990-0.990)" in out  # the control
    assert "0.930 (0.930-0.930)    0.940" in out  # and over the control
    assert "MISSED list      project@10% >= 0.95 of bare" in out


def test_pairs_rotate_the_base_the_turns_and_the_order_over_four_rounds() -> None:
    others = [bench.TWIN, "project@100%", "project@10%"]
    schedule = bench.pair_schedule(4, others)

    for name in others:
        # each base with each order of turns once, the control's base too
        assert [(n, base, first) for n, named, base, first in schedule if named == name] == [
            (1, "bare", True), (2, "bare", False), (3, bench.TWIN, True), (4, bench.TWIN, False),
        ]  # fmt: skip
    order = {n: [name for m, name, _, _ in schedule if m == n] for n in range(1, 5)}
    assert order[1] == order[4] == others
    assert order[2] == order[3] == others[::-1]


def test_a_paired_round_remembers_its_base_in_the_results() -> None:
    paired_run = replace(pair(4000, 4200), base=bench.TWIN)

    assert paired.summarize([paired_run])["paired_rounds"][0]["base"] == bench.TWIN
