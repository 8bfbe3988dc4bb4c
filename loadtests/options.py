"""The load test's knobs: each one an environment variable and a Locust command-line option.

Pure: ``ARGUMENTS`` is the list ``locustfile.py`` registers with Locust's parser (its
``env_var`` support makes every option settable either way; the command line wins), and
:func:`load_options` turns Locust's parsed namespace into typed settings. In distributed mode
the master sends these options to its workers, so they only need to be given to the master.

Users, spawn rate and run time are not knobs of ours: the shapes read Locust's own -u, -r and -t
(``LOCUST_USERS``, ``LOCUST_SPAWN_RATE``, ``LOCUST_RUN_TIME``, parsed by Locust, -t with its
timespan parser), and :func:`apply_shape_defaults` fills the ones not given with the shape's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from loadtests.mixes import MIXES
from loadtests.schedules import DEFAULTS, SHAPE_NAMES, ShapeSettings

NO_SHAPE = "none"  # no shape class: users, spawn rate and run time come from -u/-r/-t or the UI
DEFAULT_SHAPE = "smoke"
DEFAULT_INCIDENT_ROUTES = "/api/todos/,/api/todos/{id}/"
_N = TypeVar("_N", int, float)
# Users, spawn rate and run time are Locust's own -u / -r / -t (LOCUST_USERS, LOCUST_SPAWN_RATE,
# LOCUST_RUN_TIME): the shapes read them (``use_common_options``). These names did the job once.
RENAMED_VARIABLES = {
    "LOAD_USERS": "-u / LOCUST_USERS",
    "LOAD_SPAWN_RATE": "-r / LOCUST_SPAWN_RATE",
    "LOAD_DURATION": "-t / LOCUST_RUN_TIME",
}


def _converted(text: str, convert: Callable[[str], _N], noun: str) -> _N:
    """``convert(text)``, a parse error worded for the command line."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _converted(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative(text: str) -> float:
    """A number >= 0."""
    value = _converted(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive(text: str) -> float:
    """A number > 0."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def ratio(text: str) -> float:
    """A number between 0 and 1."""
    value = non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


@dataclass(frozen=True)
class Argument:
    """One knob: its option, environment variable, parser and help."""

    flag: str
    env: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    secret: bool = False
    in_web_ui: bool = True

    @property
    def dest(self) -> str:
        """The attribute name in Locust's parsed options."""
        return self.flag.lstrip("-").replace("-", "_")


ARGUMENTS: tuple[Argument, ...] = (
    Argument(
        "--shape",
        "LOAD_SHAPE",
        "load shape (none: -u/-r/-t or the web UI decide)",
        default=DEFAULT_SHAPE,
        choices=(*SHAPE_NAMES, NO_SHAPE),
        in_web_ui=False,  # chosen when the locustfile loads, before the UI exists
    ),
    Argument(
        "--mix",
        "LOAD_MIX",
        "request mix: read-heavy, write-heavy or export-heavy",
        default="read",
        choices=tuple(MIXES),
    ),
    Argument("--ramp-steps", "LOAD_RAMP_STEPS", "steps of the ramp shape", type=positive_int),
    Argument(
        "--accounts",
        "LOAD_ACCOUNTS",
        "accounts per load-generator process",
        type=positive_int,
        default=10,
    ),
    Argument(
        "--think-min", "LOAD_THINK_MIN", "shortest think time, s", type=non_negative, default=0.5
    ),
    Argument(
        "--think-max", "LOAD_THINK_MAX", "longest think time, s", type=non_negative, default=2.0
    ),
    Argument("--run-id", "LOAD_RUN_ID", "account name prefix (default: random per process)"),
    Argument(
        "--conditional-share",
        "LOAD_CONDITIONAL_SHARE",
        "share of users whose reads send If-None-Match with the ETag they hold (a 304 succeeds)",
        type=ratio,
        default=0.3,
    ),
    Argument(
        "--export-poll",
        "LOAD_EXPORT_POLL_SECONDS",
        "seconds between polls of an export's status",
        type=positive,
        default=1.0,
    ),
    Argument(
        "--export-deadline",
        "LOAD_EXPORT_DEADLINE_SECONDS",
        "seconds a client waits for an export to end (then the job counts as failed)",
        type=positive,
        default=120.0,
    ),
    Argument(
        "--max-failure-ratio",
        "LOAD_MAX_FAILURE_RATIO",
        "gate: failure ratio limit (default 1 - availability objective)",
        type=ratio,
    ),
    Argument(
        "--p99-ms", "LOAD_P99_MS", "gate: p99 limit, ms (default: the SLO threshold)", type=positive
    ),
    Argument("--p95-ms", "LOAD_P95_MS", "gate: optional p95 limit, ms", type=positive),
    Argument("--slo-file", "LOAD_SLO_FILE", "SLO file (default observability/slo.yaml)"),
    Argument(
        "--incident-error-rate",
        "INCIDENT_ERROR_RATE",
        "incident: error rate 0..1",
        type=ratio,
        default=0.2,
    ),
    Argument(
        "--incident-latency-ms",
        "INCIDENT_LATENCY_MS",
        "incident: added latency, ms",
        type=non_negative,
        default=0.0,
    ),
    Argument(
        "--incident-jitter-ms",
        "INCIDENT_LATENCY_JITTER_MS",
        "incident: jitter, ms",
        type=non_negative,
        default=0.0,
    ),
    Argument(
        "--incident-routes",
        "INCIDENT_ROUTES",
        "incident: comma-separated route templates (empty: all)",
        default=DEFAULT_INCIDENT_ROUTES,
    ),
    Argument(
        "--incident-admin-username",
        "INCIDENT_ADMIN_USERNAME",
        "incident: staff user",
        default="demo-admin",
    ),
    Argument(
        "--incident-admin-password",
        "INCIDENT_ADMIN_PASSWORD",
        "incident: its password",
        default="demo-admin-password-2024",
        secret=True,
    ),
)


def selected_shape(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The shape named by ``--shape`` on the command line, else ``LOAD_SHAPE``, else smoke.

    Locust looks for shape classes when it imports the locustfile, before it parses the
    command line, so the locustfile reads the choice this way; ``check_shape`` verifies it
    against the fully parsed options (which also see config files) once they exist.
    """
    for index, arg in enumerate(argv):
        if arg == "--shape" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--shape="):
            return arg.split("=", 1)[1]
    return environ.get("LOAD_SHAPE", "").strip() or DEFAULT_SHAPE


@dataclass(frozen=True)
class IncidentSettings:
    """The fault the incident shape switches on, and the staff account that may do it."""

    error_rate: float
    latency_ms: float
    jitter_ms: float
    routes: tuple[str, ...]
    admin_username: str
    admin_password: str

    def fault_body(self) -> dict[str, Any]:
        """The JSON body of ``PUT /api/faults/``."""
        return {
            "error_rate": self.error_rate,
            "latency_ms": round(self.latency_ms),
            "latency_jitter_ms": round(self.jitter_ms),
            "routes": list(self.routes),  # empty: every route
        }


@dataclass(frozen=True)
class LoadOptions:
    """Every knob, typed."""

    shape: str
    mix: str
    shape_settings: ShapeSettings
    accounts: int
    think_min: float
    think_max: float
    run_id: str | None
    max_failure_ratio: float | None
    p99_ms: float | None
    p95_ms: float | None
    slo_file: Path | None
    incident: IncidentSettings
    export_poll_s: float = 1.0
    export_deadline_s: float = 120.0
    conditional_share: float = 0.3


def _value(argument: Argument, value: Any) -> Any:
    """A parsed value; the web UI hands over raw strings (empty for unset) for such options."""
    if value is None or value == "":
        return argument.default
    if isinstance(value, str) and argument.type is not str:
        try:
            return argument.type(value)
        except argparse.ArgumentTypeError as error:
            raise ValueError(f"{argument.env}: {error}") from error
    return value


def load_options(namespace: object) -> LoadOptions:
    """Typed options from Locust's parsed namespace (missing attributes take the defaults).

    The shape's users, spawn rate and duration are Locust's own ``num_users`` (-u),
    ``spawn_rate`` (-r) and ``run_time`` (-t, seconds from Locust's timespan parser); None
    keeps the shape's default.
    """
    values = {arg.dest: _value(arg, getattr(namespace, arg.dest, arg.default)) for arg in ARGUMENTS}
    think_min, think_max = float(values["think_min"]), float(values["think_max"])
    if think_max < think_min:
        raise ValueError(f"LOAD_THINK_MAX ({think_max:g}) is below LOAD_THINK_MIN ({think_min:g})")
    routes = str(values["incident_routes"] or "")
    return LoadOptions(
        shape=str(values["shape"]),
        mix=str(values["mix"]),
        shape_settings=ShapeSettings(
            users=getattr(namespace, "num_users", None),
            spawn_rate=getattr(namespace, "spawn_rate", None),
            duration=getattr(namespace, "run_time", None),
            ramp_steps=values["ramp_steps"],
        ),
        accounts=int(values["accounts"]),
        think_min=think_min,
        think_max=think_max,
        run_id=values["run_id"] or None,
        max_failure_ratio=values["max_failure_ratio"],
        p99_ms=values["p99_ms"],
        p95_ms=values["p95_ms"],
        slo_file=Path(values["slo_file"]) if values["slo_file"] else None,
        incident=IncidentSettings(
            error_rate=float(values["incident_error_rate"]),
            latency_ms=float(values["incident_latency_ms"]),
            jitter_ms=float(values["incident_jitter_ms"]),
            routes=tuple(route.strip() for route in routes.split(",") if route.strip()),
            admin_username=str(values["incident_admin_username"]),
            admin_password=str(values["incident_admin_password"]),
        ),
        conditional_share=float(values["conditional_share"]),
        export_poll_s=float(values["export_poll"]),
        export_deadline_s=float(values["export_deadline"]),
    )


def renamed_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per retired variable still set, naming Locust's option that replaced it."""
    return [
        f"{name} is no longer read: use Locust's {RENAMED_VARIABLES[name]}"
        for name in RENAMED_VARIABLES
        if environ.get(name, "").strip()
    ]


def apply_shape_defaults(namespace: object, shape: str) -> None:
    """Fill Locust's unset -u / -r / -t with the shape's defaults, in place.

    Locust sets an unset -u and -r to 1 before a headless run starts, and its web UI shows the
    parsed values in the start form; filling them first keeps each shape's own numbers in both
    places (smoke: 5 users at 5/s for 20 s). Given values are kept; no shape (``none``): nothing.
    """
    if shape not in DEFAULTS:
        return
    defaults = DEFAULTS[shape]
    for attribute, value in (
        ("num_users", defaults.users),
        ("spawn_rate", defaults.spawn_rate),
        ("run_time", int(defaults.duration)),
    ):
        if getattr(namespace, attribute, None) is None:
            setattr(namespace, attribute, value)
