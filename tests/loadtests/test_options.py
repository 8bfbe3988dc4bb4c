"""The knobs: every one an environment variable and an option; the shape chosen at import."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtests.options import (
    ARGUMENTS,
    duration,
    load_options,
    positive_int,
    ratio,
    selected_shape,
)
from loadtests.schedules import ShapeSettings


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, "smoke"),
        ([], {"LOAD_SHAPE": "steady"}, "steady"),
        (["--headless", "--shape", "ramp"], {"LOAD_SHAPE": "steady"}, "ramp"),
        (["--shape=spike"], {}, "spike"),
        (["--shape"], {"LOAD_SHAPE": "soak"}, "soak"),  # dangling: Locust's parser complains
    ],
)
def test_the_shape_comes_from_the_command_line_then_the_environment(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    assert selected_shape(argv, environ) == expected


@pytest.mark.parametrize(
    ("text", "seconds"), [("20", 20), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("0.5", 0.5)]
)
def test_durations_read_seconds_minutes_and_hours(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "five", "5d", "-3"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


def test_numbers_are_checked_when_parsed() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
        positive_int("0")
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        ratio("1.5")


def test_every_option_has_its_own_environment_variable() -> None:
    envs = [argument.env for argument in ARGUMENTS]
    flags = [argument.flag for argument in ARGUMENTS]

    assert len(set(envs)) == len(envs)
    assert len(set(flags)) == len(flags)
    assert {"LOAD_SHAPE", "LOAD_MIX", "LOAD_USERS", "LOAD_DURATION", "LOAD_ACCOUNTS"} <= set(envs)
    assert all(env.startswith(("LOAD_", "INCIDENT_")) for env in envs)


def test_missing_options_take_the_defaults() -> None:
    options = load_options(None)

    assert options.shape == "smoke"
    assert options.mix == "read"
    assert options.accounts == 10
    assert (options.think_min, options.think_max) == (0.5, 2.0)
    assert options.shape_settings == ShapeSettings()
    assert options.max_failure_ratio is None
    assert options.incident.admin_username == "demo-admin"
    assert options.incident.fault_body() == {
        "error_rate": 0.2,
        "latency_ms": 0,
        "latency_jitter_ms": 0,
        "routes": ["/api/todos/", "/api/todos/{id}/"],
    }


def test_parsed_options_become_typed_settings() -> None:
    namespace = SimpleNamespace(
        shape="ramp", mix="write", load_users=30, load_duration=120.0, ramp_steps=3,
        incident_routes=" /api/todos/ , ", p99_ms=250.0,
    )  # fmt: skip

    options = load_options(namespace)

    assert options.shape_settings == ShapeSettings(users=30, duration=120.0, ramp_steps=3)
    assert options.mix == "write"
    assert options.p99_ms == 250.0
    assert options.incident.routes == ("/api/todos/",)


def test_a_think_time_range_upside_down_is_refused() -> None:
    with pytest.raises(ValueError, match="LOAD_THINK_MAX"):
        load_options(SimpleNamespace(think_min=3.0, think_max=1.0))


def test_raw_strings_from_the_web_ui_are_parsed_like_the_command_line() -> None:
    namespace = SimpleNamespace(load_users="30", load_duration="2m", p99_ms="", accounts="4")

    options = load_options(namespace)

    assert options.shape_settings.users == 30
    assert options.shape_settings.duration == 120
    assert options.p99_ms is None
    assert options.accounts == 4
    with pytest.raises(ValueError, match="LOAD_USERS"):
        load_options(SimpleNamespace(load_users="none"))


def test_the_slo_file_option_points_the_gate_at_another_file() -> None:
    assert load_options(SimpleNamespace(slo_file="/mnt/slo.yaml")).slo_file == Path("/mnt/slo.yaml")
    assert load_options(SimpleNamespace()).slo_file is None  # the gate reads the default file
