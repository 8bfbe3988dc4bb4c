"""Stand-ins for Locust's statistics rows, for tests of the SLO gate (``loadtests.gate``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Entry:
    """Shaped like Locust's StatsEntry."""

    name: str
    num_requests: int
    response_times: Mapping[int, int] = field(default_factory=dict)


@dataclass
class Error:
    """Shaped like Locust's StatsError (the error is a string on a distributed master)."""

    name: str
    error: object
    occurrences: int
