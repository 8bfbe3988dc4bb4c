"""Locust load shapes: one ``LoadTestShape`` subclass per named schedule.

``tick()`` is ``schedule.tick(run time)``: the pure functions in ``loadtests/schedules.py``
decide users and spawn rate. Every shape reads Locust's common options
(``use_common_options``): the schedule is built when a run starts from -u (users; the peak for
ramp and spike), -r (spawn rate) and -t (the shape's duration), whether they came from the
command line, ``LOCUST_*`` variables, a config file or the web UI's start form, plus
LOAD_RAMP_STEPS. The incident shape also switches a fault on for the middle third of its run
and off again (``loadtests/faultswitch.py``).
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from locust import LoadTestShape
from locust.env import Environment

from loadtests.faultswitch import FaultSwitch
from loadtests.options import load_options
from loadtests.schedules import Schedule, build_schedule

logger = logging.getLogger(__name__)


class ScheduledShape(LoadTestShape):
    """A shape that follows a named :class:`Schedule`."""

    abstract = True
    use_common_options = True  # -u / -r / -t (and the web UI's form) drive the schedule
    shape_name: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Locust's base is unannotated
        self._schedule: Schedule | None = None

    def reset_time(self) -> None:
        """Restart the clock; the next tick builds the schedule from this run's options."""
        super().reset_time()  # type: ignore[no-untyped-call]
        self._schedule = None

    def get_run_time(self) -> float:
        """Seconds since the shape (re)started: Locust's clock, annotated."""
        return time.perf_counter() - float(self.start_time)

    @property
    def environment(self) -> Environment | None:
        """The environment of the runner driving this shape (None before the run)."""
        return self.runner.environment if self.runner is not None else None

    @property
    def schedule(self) -> Schedule:
        """The schedule, built from this run's options on first use."""
        if self._schedule is None:
            environment = self.environment
            options = load_options(environment.parsed_options if environment else None)
            self._schedule = build_schedule(self.shape_name, options.shape_settings)
            logger.info("load shape %s", self._schedule.describe())
        return self._schedule

    def tick(self) -> tuple[int, float] | None:
        """Users and spawn rate for now; None ends the run."""
        return self.schedule.tick(self.get_run_time())


class SmokeShape(ScheduledShape):
    """A few users for seconds: does it work at all?"""

    shape_name = "smoke"


class SteadyShape(ScheduledShape):
    """A constant load for minutes: the everyday SLO check."""

    shape_name = "steady"


class RampShape(ScheduledShape):
    """Equal steps up to the peak: where does latency start to bend?"""

    shape_name = "ramp"


class SpikeShape(ScheduledShape):
    """A baseline, a sudden jump to the peak, the baseline again: recovery."""

    shape_name = "spike"


class SoakShape(ScheduledShape):
    """A moderate flat load for an hour: leaks, connection churn, slow drift."""

    shape_name = "soak"


class IncidentShape(ScheduledShape):
    """Steady load with a fault switched on in the middle third: alerts and dashboards react.

    The gate is expected to FAIL on this shape: the fault is injected on purpose.
    """

    shape_name = "incident"

    def __init__(self) -> None:
        super().__init__()
        self.switch: FaultSwitch | None = None

    def tick(self) -> tuple[int, float] | None:
        """Users and spawn rate for now, after asking for the fault state this moment wants."""
        elapsed = self.get_run_time()
        switch = self.fault_switch()
        result = self.schedule.tick(elapsed)
        if switch is not None:
            if result is None:
                switch.ensure_off()
            else:
                switch.want(self.schedule.fault_active(elapsed))
        return result

    def fault_switch(self) -> FaultSwitch | None:
        """The switch (made on the first tick, when the runner is known)."""
        environment = self.environment
        if self.switch is None and environment is not None:
            options = load_options(environment.parsed_options)
            self.switch = FaultSwitch(environment, options.incident)
            self.switch.prepare()
            # As the stop begins, so the verdict judged at test_stop knows the fault is off.
            environment.events.test_stopping.add_listener(self._switch_off)
            environment.events.quitting.add_listener(self._switch_off)
        return self.switch

    def _switch_off(self, **_kwargs: object) -> None:
        if self.switch is not None:
            self.switch.ensure_off()


SHAPES: dict[str, type[ScheduledShape]] = {
    shape.shape_name: shape
    for shape in (SmokeShape, SteadyShape, RampShape, SpikeShape, SoakShape, IncidentShape)
}
