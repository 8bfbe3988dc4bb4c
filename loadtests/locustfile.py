"""Locust entry point for the todo service: users, the chosen load shape, and the SLO gate.

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000 --shape smoke

Options (each also an environment variable, see ``loadtests/options.py`` and
loadtests/README.md): --shape / LOAD_SHAPE, --mix / LOAD_MIX, LOAD_USERS, LOAD_DURATION, ...
When the run ends the gate compares the measured failure ratio and latency percentiles with
the SLO (observability/slo.yaml), prints a verdict and sets the exit code (0 pass, 1 fail).
The same file serves local runs, distributed runs (--master / --worker), compose and
Kubernetes.
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

from loadtests import gate, shapes  # noqa: E402
from loadtests.options import ARGUMENTS, load_options, selected_shape  # noqa: E402
from loadtests.users import TodoApiUser  # noqa: E402
from observability.slo import SloError, load_slo  # noqa: E402

__all__ = ["TodoApiUser"]  # Locust runs the user and shape classes it finds in this module

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
    """Fail fast, before any load, on inconsistent options or an unreadable SLO file."""
    if isinstance(environment.runner, WorkerRunner):
        return  # workers get their options from the master; the master judges the run
    try:
        options = load_options(environment.parsed_options)
        load_slo(options.slo_file)
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


_report: list[str] = []


def _judge(environment: Environment, **_kwargs: Any) -> None:
    """The SLO gate: judge the whole run's statistics and set the process's exit code."""
    if isinstance(environment.runner, WorkerRunner):
        return
    options = load_options(environment.parsed_options)
    slo = load_slo(options.slo_file)
    thresholds = gate.Thresholds.from_slo(
        slo,
        max_failure_ratio=options.max_failure_ratio,
        p99_ms=options.p99_ms,
        p95_ms=options.p95_ms,
    )
    stats = environment.stats
    measured = gate.measure(stats.entries.values(), stats.errors.values())
    verdict = gate.evaluate(measured, thresholds)
    environment.process_exit_code = verdict.exit_code
    _report.append(
        gate.render(
            measured,
            verdict,
            title=f"{slo.service} (SLO file {_shown(slo.source)}), shape {SHAPE_NAME}, "
            f"mix {options.mix}",
            notes=_notes(environment),
        )
    )


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _notes(environment: Environment) -> list[str]:
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


def _print_verdict(**_kwargs: Any) -> None:
    """Print the verdict after Locust's own final statistics, so it is the last word."""
    for text in _report:
        sys.stdout.write(f"\n{text}\n")
    sys.stdout.flush()


# Locust's event hooks are untyped: registered by call rather than as decorators.
events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_check_options)
events.quitting.add_listener(_judge)
events.quit.add_listener(_print_verdict)
