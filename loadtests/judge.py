"""The SLO gate wired to Locust's events: a verdict on every test stop, the exit code at quit.

Every ``test_stop`` (a shape or -t ending, the web UI's Stop button, Ctrl-C) judges that run's
statistics with ``loadtests/gate.py``, keeps the verdict, writes it to ``<csv prefix>_verdict.txt``
when ``--csv`` is given and, with the web UI, prints it at once and serves it at ``/verdict``.
Headless, Locust quits right after the stop and prints its summary: the verdict is printed
after that, at ``quit``, so it stays the last word. At ``quitting`` the process exit code is set
from the verdict (0 pass, 1 fail); a run still going then (Ctrl-C) is judged there, since
Locust decides the exit code before it stops the users. Only the local runner or the master
judges: a distributed run is judged on the merged statistics; workers judge nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests import gate
from loadtests.options import load_options
from observability.slo import load_slo

logger = logging.getLogger(__name__)

VERDICT_SUFFIX = "_verdict.txt"  # next to Locust's <prefix>_stats.csv


@dataclass(frozen=True)
class Report:
    """One judged run: the rendered verdict and the exit code it asks for."""

    text: str
    exit_code: int

    @property
    def verdict_line(self) -> str:
        """``VERDICT: PASS`` or ``VERDICT: FAIL``."""
        return next(line for line in self.text.splitlines() if line.startswith("VERDICT: "))


@dataclass
class Judge:
    """Judges runs as Locust's events come; holds the latest verdict."""

    shape_name: str
    notes: Callable[[Environment], Sequence[str]] = lambda _environment: ()
    out: TextIO = field(default_factory=lambda: sys.stdout)
    latest: Report | None = None
    _printed: bool = False
    _running: bool = False  # between test_start and test_stop
    _quitting: bool = False

    def register(self, environment: Environment) -> None:
        """Listen to ``environment``'s events (not on workers); serve ``/verdict`` in the UI."""
        if isinstance(environment.runner, WorkerRunner):
            return
        environment.events.test_start.add_listener(self.on_test_start)
        environment.events.test_stop.add_listener(self.on_test_stop)
        environment.events.quitting.add_listener(self.on_quitting)
        environment.events.quit.add_listener(self.on_quit)
        web_ui = environment.web_ui
        if web_ui is not None and web_ui.app is not None:
            route = web_ui.auth_required_if_enabled(self.verdict_page)
            web_ui.app.add_url_rule("/verdict", "slo_verdict", route)

    def judge(self, environment: Environment) -> Report:
        """Judge the statistics Locust holds now; keep and store the verdict."""
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
        jobs = gate.measure_jobs(stats.entries.values(), stats.errors.values())
        verdict = gate.evaluate(measured, thresholds, jobs)
        text = gate.render(
            measured,
            verdict,
            title=f"{slo.service} (SLO file {_shown(slo.source)}), shape {self.shape_name}, "
            f"mix {options.mix}",
            notes=list(self.notes(environment)),
            jobs=jobs,
        )
        self.latest, self._printed = Report(text, verdict.exit_code), False
        self._store(environment, self.latest)
        return self.latest

    def on_test_start(self, **_kwargs: Any) -> None:
        """A run started (Locust has reset the statistics)."""
        self._running = True

    def on_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        """A run ended: judge it; with the web UI print the verdict now."""
        self._running = False
        if self._quitting:
            return  # judged at quitting, which Locust fires before it stops a running test
        report = self.judge(environment)
        parsed = environment.parsed_options
        if not (parsed is not None and getattr(parsed, "headless", False)):
            self._print()
        logger.info("SLO gate: %s", report.verdict_line)

    def on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        """Locust is about to exit: the exit code is the latest verdict's."""
        if self.latest is None or self._running:
            self.judge(environment)  # still running (Ctrl-C), or never started
        self._quitting = True
        assert self.latest is not None  # noqa: S101  # nosec B101  # judge() sets it
        environment.process_exit_code = self.latest.exit_code

    def on_quit(self, **_kwargs: Any) -> None:
        """After Locust's final statistics: the verdict not printed yet, as the last word."""
        self._print()

    def verdict_page(self) -> tuple[str, int, dict[str, str]]:
        """``GET /verdict`` in the web UI: the latest verdict as plain text."""
        text = self.latest.text if self.latest else "no run has ended yet"
        return text + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"}

    def _print(self) -> None:
        if self.latest is not None and not self._printed:
            self.out.write(f"\n{self.latest.text}\n")
            self.out.flush()
            self._printed = True

    def _store(self, environment: Environment, report: Report) -> None:
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if not prefix:
            return
        path = Path(f"{prefix}{VERDICT_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(report.text + "\n")
        except OSError as error:
            logger.warning("could not store the SLO verdict in %s: %s", path, error)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
