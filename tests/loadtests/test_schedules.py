"""The load shapes' schedules: what each shape's tick() returns over time, ending with None."""

from __future__ import annotations

import pytest

from loadtests.schedules import SHAPE_NAMES, Schedule, ShapeSettings, build_schedule


def ticks(schedule: Schedule, times: list[float]) -> list[tuple[int, float] | None]:
    return [schedule.tick(t) for t in times]


def test_smoke_runs_five_users_for_twenty_seconds_then_stops() -> None:
    schedule = build_schedule("smoke")

    assert ticks(schedule, [0, 10, 19.9, 20, 60]) == [(5, 5), (5, 5), (5, 5), None, None]
    assert schedule.fault is None


def test_steady_holds_twenty_users_for_five_minutes() -> None:
    assert ticks(build_schedule("steady"), [0, 150, 299.9, 300]) == [
        (20, 5),
        (20, 5),
        (20, 5),
        None,
    ]


def test_ramp_climbs_in_equal_steps_to_the_peak() -> None:
    schedule = build_schedule("ramp")

    assert ticks(schedule, [0, 59.9, 60, 120, 180, 240, 299.9, 300]) == [
        (10, 5),
        (10, 5),
        (20, 5),
        (30, 5),
        (40, 5),
        (50, 5),
        (50, 5),
        None,
    ]


def test_ramp_steps_round_up_and_never_drop_to_zero_users() -> None:
    schedule = build_schedule("ramp", ShapeSettings(users=3, duration=40, ramp_steps=4))

    assert [stage.users for stage in schedule.stages] == [1, 2, 3, 3]
    assert ticks(schedule, [0, 10, 20, 30, 40]) == [(1, 5), (2, 5), (3, 5), (3, 5), None]


def test_spike_jumps_from_a_baseline_to_the_peak_within_a_second_and_back() -> None:
    schedule = build_schedule("spike")

    assert ticks(schedule, [0, 71.9, 72, 107.9, 108, 179.9, 180]) == [
        (10, 10),
        (10, 10),
        (50, 50),
        (50, 50),
        (10, 50),
        (10, 50),
        None,
    ]


def test_soak_is_long_and_flat() -> None:
    schedule = build_schedule("soak")

    assert ticks(schedule, [0, 1800, 3599, 3600]) == [(20, 2), (20, 2), (20, 2), None]
    assert schedule.duration == 3600


def test_incident_is_steady_load_with_the_fault_on_for_the_middle_third() -> None:
    schedule = build_schedule("incident")

    assert ticks(schedule, [0, 150, 299.9, 300]) == [(20, 5), (20, 5), (20, 5), None]
    assert [schedule.fault_active(t) for t in [0, 99.9, 100, 199.9, 200, 299]] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_every_shape_honours_users_spawn_rate_and_duration_overrides(name: str) -> None:
    schedule = build_schedule(name, ShapeSettings(users=8, spawn_rate=2, duration=12))

    assert schedule.duration == 12
    assert schedule.max_users == 8
    assert schedule.tick(12) is None
    assert schedule.tick(11.9) is not None
    assert all(stage.spawn_rate >= 2 for stage in schedule.stages)


def test_the_incident_window_scales_with_the_duration() -> None:
    schedule = build_schedule("incident", ShapeSettings(duration=9))

    assert [schedule.fault_active(t) for t in [2.9, 3, 5.9, 6]] == [False, True, True, False]


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("nope", ShapeSettings(), "unknown shape 'nope'"),
        ("smoke", ShapeSettings(users=0), "users must be at least 1"),
        ("steady", ShapeSettings(duration=0), "duration must be positive"),
        ("spike", ShapeSettings(spawn_rate=0), "spawn rate must be positive"),
        ("ramp", ShapeSettings(ramp_steps=0), "ramp steps must be at least 1"),
    ],
)
def test_impossible_settings_are_refused_with_a_reason(
    name: str, overrides: ShapeSettings, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_schedule(name, overrides)


def test_a_schedule_describes_itself_for_the_log() -> None:
    text = build_schedule("incident", ShapeSettings(users=3, duration=30)).describe()

    assert text == "incident: 3 users until 30 s (@5/s); fault on from 10 s to 20 s"
