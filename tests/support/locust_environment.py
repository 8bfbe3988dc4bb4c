"""Helpers shared by the tests that run Locust (or the Locust-facing modules) in a subprocess."""

from __future__ import annotations

from collections.abc import Mapping

from tests.support.tools import tool_environment


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without a developer's LOAD_*/INCIDENT_*/LOCUST_* settings, plus
    ``extra``."""
    inherited = {
        key: value
        for key, value in tool_environment().items()
        if not key.startswith(("LOAD_", "INCIDENT_", "LOCUST_"))
    }
    return {**inherited, **(extra or {})}
