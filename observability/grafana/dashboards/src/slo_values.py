"""The SLO numbers and texts the dashboards show, all derived from ``observability/slo.yaml``.

The SLO model (:mod:`observability.slo`) is the single source of the objectives: the Locust gate,
the Prometheus SLO rules (observability/prometheus/slo_rules.py) and these dashboards read it, so
they cannot disagree. ``generate`` loads it once (:func:`observability.slo.load_slo`) and hands
the :class:`Slo` to every dashboard's ``build``; tests pass a modified one to render without
touching any file. What is here is only how the dashboards word the model's values.
"""

from __future__ import annotations

from observability.slo import Slo, load_slo


def resolve(slo: Slo | None) -> Slo:
    """`slo`, or the SLO file's when None (what a dashboard's ``build()`` defaults to)."""
    return load_slo() if slo is None else slo


def percent(ratio: float) -> str:
    """A ratio as a short percentage: 0.999 -> "99.9%", 0.99 -> "99%", 0.001 -> "0.1%"."""
    return f"{ratio * 100:g}%"


def allowed_errors_text(slo: Slo) -> str:
    """The availability SLO's error budget as a percentage: "0.1%" for a 99.9% objective."""
    return percent(slo.availability.max_failure_ratio)


def threshold_text(slo: Slo) -> str:
    """The latency threshold for humans: "300 ms"."""
    return f"{slo.latency.threshold_seconds * 1000:g} ms"
