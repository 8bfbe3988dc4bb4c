"""The SLO numbers and texts the dashboards show, all derived from ``observability/slo.yaml``.

The SLO file is the single source of the objectives: the Locust gate, the Prometheus SLO rules
(observability/prometheus/slo_rules.py) and these dashboards read it, so they cannot disagree.
``generate`` loads it once (:func:`loadtests.slo.load_slo`) and hands the :class:`Slo` to every
dashboard's ``build``; tests pass a modified one to render without touching any file.
"""

from __future__ import annotations

import re

from prometheus_client.utils import floatToGoString

from loadtests.slo import Slo, load_slo

_DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[smhdwy])$")
_UNIT_NAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "y": "year"}


def resolve(slo: Slo | None) -> Slo:
    """`slo`, or the SLO file's when None (what a dashboard's ``build()`` defaults to)."""
    return load_slo() if slo is None else slo


def budget(objective: float) -> float:
    """The error budget of `objective` as a ratio (0.001 for 0.999), as the rules record it."""
    return round(1 - objective, 12)


def percent(ratio: float) -> str:
    """A ratio as a short percentage: 0.999 -> "99.9%", 0.99 -> "99%", 0.001 -> "0.1%"."""
    return f"{ratio * 100:g}%"


def allowed_errors_text(slo: Slo) -> str:
    """The availability SLO's error budget as a percentage: "0.1%" for a 99.9% objective."""
    return percent(slo.availability.max_failure_ratio)


def le_value(slo: Slo) -> str:
    """The `le` label of the latency threshold's bucket, spelt as the client library writes it."""
    return str(floatToGoString(slo.latency.threshold_seconds))  # untyped in the client library


def threshold_text(slo: Slo) -> str:
    """The latency threshold for humans: "300 ms"."""
    return f"{slo.latency.threshold_seconds * 1000:g} ms"


def _duration(window: str) -> tuple[int, str]:
    match = _DURATION.match(window)
    if match is None:
        raise ValueError(f"not a duration such as 30d: {window!r}")
    return int(match.group("count")), _UNIT_NAMES[match.group("unit")]


def window_text(window: str) -> str:
    """A Prometheus duration for humans: "30d" -> "30 days", "1h" -> "1 hour"."""
    count, unit = _duration(window)
    return f"{count} {unit}{'' if count == 1 else 's'}"


def window_adjective(window: str) -> str:
    """A Prometheus duration as an adjective: "30d" -> "30-day" (as in "the 30-day budget")."""
    count, unit = _duration(window)
    return f"{count}-{unit}"


def latency_exclusions(slo: Slo) -> tuple[str, ...]:
    """The matchers leaving out the views the latency SLI excludes (as the SLO rules do)."""
    views = slo.latency.excluded_views
    return (f'view!~"{"|".join(views)}"',) if views else ()
