"""The knobs: every one an environment variable and an option; the shape chosen at import."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtests.options import (
    ARGUMENTS,
    apply_shape_defaults,
    load_options,
    positive_int,
    ratio,
    renamed_variables,
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
    assert {"LOAD_SHAPE", "LOAD_MIX", "LOAD_RAMP_STEPS", "LOAD_ACCOUNTS"} <= set(envs)
    assert all(env.startswith(("LOAD_", "INCIDENT_")) for env in envs)


def test_users_spawn_rate_and_duration_are_locusts_own_options_not_ours() -> None:
    flags = {argument.flag for argument in ARGUMENTS}
    envs = {argument.env for argument in ARGUMENTS}

    assert not flags & {"--load-users", "--load-spawn-rate", "--load-duration"}
    assert not envs & {"LOAD_USERS", "LOAD_SPAWN_RATE", "LOAD_DURATION"}


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
        shape="ramp", mix="write", num_users=30, spawn_rate=None, run_time=120, ramp_steps=3,
        incident_routes=" /api/todos/ , ", p99_ms=250.0,
    )  # fmt: skip

    options = load_options(namespace)

    assert options.shape_settings == ShapeSettings(users=30, duration=120, ramp_steps=3)
    assert options.mix == "write"
    assert options.p99_ms == 250.0
    assert options.incident.routes == ("/api/todos/",)


def test_a_share_of_users_revalidates_with_if_none_match_by_default() -> None:
    """``LOAD_CONDITIONAL_SHARE``: 0.3 unless given; a ratio, checked like the others."""
    assert load_options(None).conditional_share == 0.3
    assert load_options(SimpleNamespace(conditional_share="1")).conditional_share == 1.0
    assert load_options(SimpleNamespace(conditional_share="0")).conditional_share == 0.0
    with pytest.raises(ValueError, match="LOAD_CONDITIONAL_SHARE"):
        load_options(SimpleNamespace(conditional_share="1.5"))


def test_a_think_time_range_upside_down_is_refused() -> None:
    with pytest.raises(ValueError, match="LOAD_THINK_MAX"):
        load_options(SimpleNamespace(think_min=3.0, think_max=1.0))


def test_raw_strings_from_the_web_ui_are_parsed_like_the_command_line() -> None:
    namespace = SimpleNamespace(ramp_steps="3", p99_ms="", accounts="4")

    options = load_options(namespace)

    assert options.shape_settings.ramp_steps == 3
    assert options.p99_ms is None
    assert options.accounts == 4
    with pytest.raises(ValueError, match="LOAD_ACCOUNTS"):
        load_options(SimpleNamespace(accounts="none"))


@pytest.mark.parametrize(
    ("shape", "given", "expected"),
    [
        ("smoke", {}, (5, 5, 20)),
        ("soak", {}, (20, 2, 3600)),
        ("spike", {"num_users": 80}, (80, 10, 180)),
        ("steady", {"num_users": 7, "spawn_rate": 1.5, "run_time": 45}, (7, 1.5, 45)),
    ],
)
def test_the_shapes_defaults_fill_only_the_common_options_not_given(
    shape: str, given: dict[str, float], expected: tuple[float, float, float]
) -> None:
    unset = {"num_users": None, "spawn_rate": None, "run_time": None}
    namespace = SimpleNamespace(**{**unset, **given})

    apply_shape_defaults(namespace, shape)

    assert (namespace.num_users, namespace.spawn_rate, namespace.run_time) == expected
    settings = load_options(namespace).shape_settings
    assert (settings.users, settings.spawn_rate, settings.duration) == expected


def test_without_a_shape_locust_keeps_its_own_defaults() -> None:
    namespace = SimpleNamespace(num_users=None, spawn_rate=None, run_time=None)

    apply_shape_defaults(namespace, "none")

    assert vars(namespace) == {"num_users": None, "spawn_rate": None, "run_time": None}


def test_the_retired_variables_are_named_with_their_replacement() -> None:
    problems = renamed_variables({"LOAD_USERS": "5", "LOAD_DURATION": "1m", "LOAD_MIX": "read"})

    assert problems == [
        "LOAD_USERS is no longer read: use Locust's -u / LOCUST_USERS",
        "LOAD_DURATION is no longer read: use Locust's -t / LOCUST_RUN_TIME",
    ]
    assert renamed_variables({"LOAD_SPAWN_RATE": " "}) == []


def test_the_slo_file_option_points_the_gate_at_another_file() -> None:
    assert load_options(SimpleNamespace(slo_file="/mnt/slo.yaml")).slo_file == Path("/mnt/slo.yaml")
    assert load_options(SimpleNamespace()).slo_file is None  # the gate reads the default file
