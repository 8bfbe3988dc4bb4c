"""Load the service's SLOs from ``observability/slo.yaml`` into typed values.

Pure (PyYAML only): the gate reads its default thresholds from here, the tests check the file
against the app's latency buckets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SLO_FILE = Path(__file__).resolve().parents[1] / "observability" / "slo.yaml"
SLO_FILE_ENV = "LOAD_SLO_FILE"
_DURATION = re.compile(r"^(\d+)([smhdwy])$")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class SloError(ValueError):
    """The SLO file is missing a field or holds an impossible value."""


@dataclass(frozen=True)
class AvailabilityObjective:
    """Share of requests that must not fail (not 5xx)."""

    objective: float

    @property
    def max_failure_ratio(self) -> float:
        """The error budget as a ratio: 1 - objective (0.001 for 99.9%)."""
        return round(1.0 - self.objective, 12)


@dataclass(frozen=True)
class LatencyObjective:
    """Share of requests (``objective``) that must finish within ``threshold_seconds``."""

    objective: float
    threshold_seconds: float
    excluded_views: tuple[str, ...] = ()  # Django URL names the latency SLI leaves out


@dataclass(frozen=True)
class Slo:
    """The service's SLOs as declared in the SLO file."""

    service: str
    window: str
    availability: AvailabilityObjective
    latency: LatencyObjective
    source: Path

    @property
    def window_seconds(self) -> int:
        """The error-budget window in seconds."""
        match = _DURATION.match(self.window)
        if match is None:  # validated when loaded; only a hand-made Slo gets here
            raise SloError(f"window must be a duration such as 30d, got {self.window!r}")
        return int(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


def slo_path(environ: Mapping[str, str] | None = None) -> Path:
    """The SLO file to read: ``LOAD_SLO_FILE`` when set, else observability/slo.yaml."""
    value = (os.environ if environ is None else environ).get(SLO_FILE_ENV, "").strip()
    return Path(value) if value else DEFAULT_SLO_FILE


def load_slo(path: Path | None = None) -> Slo:
    """Read and validate the SLO file (default: :func:`slo_path`)."""
    source = path or slo_path()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise SloError(f"cannot read the SLO file {source}: {error}") from error
    return parse_slo(document, source=source)


def parse_slo(document: Any, *, source: Path) -> Slo:
    """Validate a parsed SLO document."""
    root = _mapping(document, "the document", source)
    objectives = _mapping(root.get("objectives"), "objectives", source)
    availability = _mapping(objectives.get("availability"), "objectives.availability", source)
    latency = _mapping(objectives.get("latency"), "objectives.latency", source)
    window = root.get("window")
    if not isinstance(window, str) or not _DURATION.match(window):
        raise SloError(f"{source}: window must be a duration such as 30d, got {window!r}")
    service = root.get("service")
    if not isinstance(service, str) or not service:
        raise SloError(f"{source}: service must be a non-empty string, got {service!r}")
    return Slo(
        service=service,
        window=window,
        availability=AvailabilityObjective(
            objective=_ratio(availability.get("objective"), "availability.objective", source)
        ),
        latency=LatencyObjective(
            objective=_ratio(latency.get("objective"), "latency.objective", source),
            threshold_seconds=_positive(
                latency.get("threshold_seconds"), "latency.threshold_seconds", source
            ),
            excluded_views=_names(
                latency.get("excluded_views", []), "latency.excluded_views", source
            ),
        ),
        source=source,
    )


def _mapping(value: Any, where: str, source: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SloError(f"{source}: {where} must be a mapping, got {type(value).__name__}")
    return value


def _names(value: Any, where: str, source: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise SloError(f"{source}: {where} must be a list of names, got {value!r}")
    return tuple(value)


def _number(value: Any, where: str, source: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SloError(f"{source}: {where} must be a number, got {value!r}")
    return float(value)


def _ratio(value: Any, where: str, source: Path) -> float:
    number = _number(value, where, source)
    if not 0 < number < 1:
        raise SloError(f"{source}: {where} must be strictly between 0 and 1, got {number!r}")
    return number


def _positive(value: Any, where: str, source: Path) -> float:
    number = _number(value, where, source)
    if number <= 0:
        raise SloError(f"{source}: {where} must be positive, got {number!r}")
    return number
