"""Headers every load-test request carries: a fresh W3C trace and a synthetic-traffic mark.

``traceparent`` starts a new sampled trace per request (version 00, random 128-bit trace id and
64-bit parent id, flags 01), so a slow request in Locust's report can be found in the tracing
backend, and load traffic never joins an unrelated trace. ``X-Synthetic: locust`` and W3C
``baggage: synthetic=true`` let dashboards, logs and alert rules tell test traffic from users'.
"""

from __future__ import annotations

import random
import re

SYNTHETIC_HEADER = "X-Synthetic"
SYNTHETIC_VALUE = "locust"
BAGGAGE = "synthetic=true"
TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$")

# ids need uniqueness, not secrecy
_random = random.Random()  # noqa: S311  # nosec B311


def new_traceparent() -> str:
    """A W3C ``traceparent`` for a new, sampled trace."""
    trace_id = _random.getrandbits(128) or 1  # all-zero ids are invalid
    parent_id = _random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{parent_id:016x}-01"


def trace_id_of(traceparent: str) -> str:
    """The 32-hex-digit trace id inside a ``traceparent``."""
    return traceparent.split("-")[1]


def synthetic_headers() -> dict[str, str]:
    """The tracing and synthetic-traffic headers for one request."""
    return {
        "traceparent": new_traceparent(),
        SYNTHETIC_HEADER: SYNTHETIC_VALUE,
        "baggage": BAGGAGE,
    }
