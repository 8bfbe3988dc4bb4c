"""Histogram buckets, kept free of imports so settings can read them safely.

django-prometheus reads ``PROMETHEUS_LATENCY_BUCKETS`` once, when it is first imported; if
settings imported it (even indirectly) the setting would be silently ignored.
"""

# The latency SLO: 99% of requests within 300 ms. Its threshold is an exact bucket boundary,
# so "share of requests under the threshold" is read from one bucket, not interpolated.
SLO_LATENCY_THRESHOLD_SECONDS = 0.3

# Fine resolution between 5 ms and 1 s, then a coarse tail.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0, float("inf"),
)  # fmt: skip
