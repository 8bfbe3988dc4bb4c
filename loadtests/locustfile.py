"""Locust entry point for the todo service: users, the chosen load shape, and the SLO gate.

    locust --headless -H http://127.0.0.1:8000                      # smoke: 5 users, 20 s
    locust --headless -H http://127.0.0.1:8000 --shape steady -u 30 -t 10m

(``locust`` at the repository root finds this file through pyproject.toml's [tool.locust].)
The shape comes from --shape / LOAD_SHAPE; Locust's own -u, -r and -t (LOCUST_USERS,
LOCUST_SPAWN_RATE, LOCUST_RUN_TIME) set its users, spawn rate and duration, the shape's
defaults otherwise; our other knobs are in ``loadtests/options.py`` and loadtests/README.md.
Whenever a run stops the gate compares the measured failure ratio and latency percentiles with
the SLO (observability/slo.yaml) and prints a verdict (``loadtests/judge.py``); the exit code
follows the last one (0 pass, 1 fail). The same file serves local runs, distributed runs
(--master / --worker), compose and Kubernetes.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

# Locust imports this file by path; make the `loadtests` package importable from anywhere.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from locust import events  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

from loadtests import shapes  # noqa: E402
from loadtests.judge import Judge  # noqa: E402
from loadtests.options import (  # noqa: E402
    ARGUMENTS,
    apply_shape_defaults,
    load_options,
    renamed_variables,
    selected_shape,
)
from loadtests.schedules import build_schedule  # noqa: E402
from loadtests.users import TodoApiUser, TodoGraphQLUser  # noqa: E402
from observability.slo import SloError, load_slo  # noqa: E402

# Locust runs the user and shape classes it finds in this module (3 REST users to 1 GraphQL)
__all__ = ["TodoApiUser", "TodoGraphQLUser"]

logger = logging.getLogger("loadtests")

# Locust picks up shape classes when it imports this file, before it parses the command line:
# expose exactly the one chosen (--shape or LOAD_SHAPE), or none for -u/-r/-t and the web UI.
SHAPE_NAME = selected_shape(sys.argv[1:], os.environ)
# (Import no shape class by name here: Locust would find it too.)
if SHAPE_NAME in shapes.SHAPES:
    LoadShape: type[shapes.ScheduledShape] = shapes.SHAPES[SHAPE_NAME]


def _add_options(parser: Any, **_kwargs: Any) -> None:
    """Every knob as a --option with its environment variable (see loadtests/options.py)."""
    for argument in ARGUMENTS:
        parser.add_argument(
            argument.flag,
            env_var=argument.env,
            type=argument.type,
            default=argument.default,
            choices=argument.choices,
            help=f"{argument.help} [env {argument.env}]",
            include_in_web_ui=argument.in_web_ui,
            is_secret=argument.secret,
        )


def _check_options(environment: Environment, **_kwargs: Any) -> None:
    """Fail fast, before any load, on inconsistent options or an unreadable SLO file; give
    the shape's defaults to the -u / -r / -t not given; register the gate."""
    if isinstance(environment.runner, WorkerRunner):
        return  # workers get their options from the master; the master judges the run
    parsed = environment.parsed_options
    try:
        if retired := renamed_variables(os.environ):
            raise ValueError("; ".join(retired))
        apply_shape_defaults(parsed, SHAPE_NAME)
        options = load_options(parsed)
        load_slo(options.slo_file)
        if SHAPE_NAME in shapes.SHAPES:
            build_schedule(SHAPE_NAME, options.shape_settings)
    except (ValueError, SloError) as error:
        logger.error("%s", error)
        sys.exit(2)
    if options.shape != SHAPE_NAME:
        logger.error(
            "shape %r chosen in a config file: pass it as --shape %s or LOAD_SHAPE=%s instead",
            options.shape,
            options.shape,
            options.shape,
        )
        sys.exit(2)
    Judge(SHAPE_NAME, notes=_notes).register(environment)


def _notes(environment: Environment) -> list[str]:
    """What the verdict should add: the incident shape's fault switching."""
    shape = environment.shape_class
    if not isinstance(shape, shapes.IncidentShape):
        return []
    switch = shape.switch
    notes = [
        "the incident shape switches a fault on mid-run on purpose: a FAIL verdict is the "
        "expected outcome of this shape"
    ]
    if switch is not None and switch.history:
        notes.append(f"fault switched {', '.join(switch.history)}")
    if switch is not None and switch.problem:
        notes.append(f"the fault switch failed, the incident did not happen: {switch.problem}")
    return notes


# Locust's event hooks are untyped: registered by call rather than as decorators.
events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_check_options)
