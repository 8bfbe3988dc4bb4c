"""Load shapes as pure functions of elapsed time: what ``LoadTestShape.tick()`` returns.

Each named shape is a :class:`Schedule`: consecutive stages (until when, how many users, how
fast to get there), and for ``incident`` a window in which a fault is switched on. The Locust
shape classes in ``loadtests/shapes.py`` only ask ``schedule.tick(run_time)``, so these
sequences are tested here without starting Locust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHAPE_NAMES = ("smoke", "steady", "ramp", "spike", "soak", "incident")


@dataclass(frozen=True)
class Stage:
    """Run ``users`` users (spawned or stopped at ``spawn_rate`` a second) until ``until`` s."""

    until: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class FaultWindow:
    """The incident: a fault is on from ``start`` (inclusive) to ``end`` (exclusive), seconds."""

    start: float
    end: float

    def active(self, elapsed: float) -> bool:
        """True while the fault should be switched on."""
        return self.start <= elapsed < self.end


@dataclass(frozen=True)
class Schedule:
    """A named load shape: its stages in order, and optionally a fault window."""

    name: str
    stages: tuple[Stage, ...]
    fault: FaultWindow | None = None

    @property
    def duration(self) -> float:
        """Seconds until the shape ends (``tick`` returns None from then on)."""
        return self.stages[-1].until

    @property
    def max_users(self) -> int:
        """The most users the shape ever asks for."""
        return max(stage.users for stage in self.stages)

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        """``(users, spawn_rate)`` for this moment, or None once the shape is over."""
        for stage in self.stages:
            if elapsed < stage.until:
                return stage.users, stage.spawn_rate
        return None

    def fault_active(self, elapsed: float) -> bool:
        """True while this shape wants its fault switched on."""
        return self.fault is not None and self.fault.active(elapsed)

    def describe(self) -> str:
        """One line for logs: the stages and the fault window."""
        stages = ", ".join(
            f"{stage.users} users until {stage.until:g} s (@{stage.spawn_rate:g}/s)"
            for stage in self.stages
        )
        fault = (
            f"; fault on from {self.fault.start:g} s to {self.fault.end:g} s" if self.fault else ""
        )
        return f"{self.name}: {stages}{fault}"


@dataclass(frozen=True)
class ShapeSettings:
    """Overrides from the environment or the command line; None keeps the shape's default."""

    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None
    ramp_steps: int | None = None


@dataclass(frozen=True)
class _Defaults:
    users: int
    spawn_rate: float
    duration: float


# users, spawn rate (users/s), duration (s). Ramp and spike read `users` as the peak.
DEFAULTS = {
    "smoke": _Defaults(users=5, spawn_rate=5, duration=20),
    "steady": _Defaults(users=20, spawn_rate=5, duration=300),
    "ramp": _Defaults(users=50, spawn_rate=5, duration=300),
    "spike": _Defaults(users=50, spawn_rate=10, duration=180),
    "soak": _Defaults(users=20, spawn_rate=2, duration=3600),
    "incident": _Defaults(users=20, spawn_rate=5, duration=300),
}
DEFAULT_RAMP_STEPS = 5
SPIKE_BASELINE_SHARE = 0.2  # the baseline is a fifth of the peak
SPIKE_WINDOW = (0.4, 0.6)  # the peak holds from 40% to 60% of the run
INCIDENT_WINDOW = (1 / 3, 2 / 3)  # the fault is on during the middle third


def build_schedule(name: str, settings: ShapeSettings | None = None) -> Schedule:
    """The schedule for a shape name, with ``settings`` applied over the defaults."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown shape {name!r}; choose one of {', '.join(SHAPE_NAMES)}")
    settings = settings or ShapeSettings()
    defaults = DEFAULTS[name]
    users = settings.users if settings.users is not None else defaults.users
    rate = settings.spawn_rate if settings.spawn_rate is not None else defaults.spawn_rate
    duration = settings.duration if settings.duration is not None else defaults.duration
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    if rate <= 0:
        raise ValueError(f"spawn rate must be positive, got {rate:g}")
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration:g} s")

    if name == "ramp":
        steps = settings.ramp_steps if settings.ramp_steps is not None else DEFAULT_RAMP_STEPS
        return _ramp(users=users, rate=rate, duration=duration, steps=steps)
    if name == "spike":
        return _spike(users=users, rate=rate, duration=duration)
    flat = (Stage(until=duration, users=users, spawn_rate=rate),)
    if name == "incident":
        start, end = INCIDENT_WINDOW
        return Schedule(name, flat, FaultWindow(start=duration * start, end=duration * end))
    return Schedule(name, flat)


def _ramp(*, users: int, rate: float, duration: float, steps: int) -> Schedule:
    """``steps`` equal steps up to ``users``: users * k / steps for k = 1..steps."""
    if steps < 1:
        raise ValueError(f"ramp steps must be at least 1, got {steps}")
    step_time = duration / steps
    stages = tuple(
        Stage(
            until=duration if k == steps else step_time * k,
            users=max(1, math.ceil(users * k / steps)),
            spawn_rate=rate,
        )
        for k in range(1, steps + 1)
    )
    return Schedule("ramp", stages)


def _spike(*, users: int, rate: float, duration: float) -> Schedule:
    """A baseline, a sudden jump to ``users`` (all within about a second), the baseline again."""
    baseline = max(1, round(users * SPIKE_BASELINE_SHARE))
    burst = max(rate, float(users))
    start, end = SPIKE_WINDOW
    return Schedule(
        "spike",
        (
            Stage(until=duration * start, users=baseline, spawn_rate=rate),
            Stage(until=duration * end, users=users, spawn_rate=burst),
            Stage(until=duration, users=baseline, spawn_rate=burst),
        ),
    )
