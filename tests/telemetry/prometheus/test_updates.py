"""The request path's update functions write what ``inc`` and ``observe`` would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.telemetry.prometheus.updates import HistogramValues, adder, observer

pytestmark = pytest.mark.database_free

BOUNDS = (0.005, 0.01, 0.05, 0.1, 1.0)
AMOUNTS = (0.0, 0.004, 0.005, 0.0051, 0.01, 0.07, 0.1, 0.5, 1.0, 3.0, 0.005)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_observer_fills_the_same_buckets_and_sum_as_observe() -> None:
    official, ours = CollectorRegistry(), CollectorRegistry()
    expected = Histogram("q_seconds", "h", ["alias"], buckets=BOUNDS, registry=official)
    measured = Histogram("q_seconds", "h", ["alias"], buckets=BOUNDS, registry=ours)
    observe = observer(measured.labels("default"))
    for amount in AMOUNTS:
        expected.labels("default").observe(amount)
        assert observe(amount) == next(
            i for i, bound in enumerate((*BOUNDS, float("inf"))) if amount <= bound
        )
    assert samples(ours) == samples(official)


def test_adder_counts_like_inc_and_moves_gauges_both_ways() -> None:
    official, ours = CollectorRegistry(), CollectorRegistry()
    counted = Counter("c", "h", ["view"], registry=official)
    counted_by_us = Counter("c", "h", ["view"], registry=ours)
    Gauge("g", "h", registry=official).inc(0)
    in_flight = adder(Gauge("g", "h", registry=ours))
    add = adder(counted_by_us.labels("list"))
    for amount in (1, 1, 5):
        counted.labels("list").inc(amount)
        add(amount)
    in_flight(1)
    in_flight(-1)
    assert samples(ours) == samples(official)


def test_a_labelled_parent_is_refused() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="labelled parent"):
        adder(Counter("c", "h", ["view"], registry=registry))
    with pytest.raises(ValueError, match="labelled parent"):
        observer(Histogram("h_seconds", "h", ["view"], registry=registry))


def test_histogram_values_name_the_sum_and_the_bucket_an_observation_adds_to() -> None:
    registry = CollectorRegistry()
    child = Histogram("q_seconds", "h", ["alias"], buckets=BOUNDS, registry=registry).labels("x")
    parts = HistogramValues(child)
    for amount in AMOUNTS:
        (total, added), (bucket, one) = parts.observation(amount)
        index = parts.bucket(amount)
        assert (total, added, one) == (child._sum, amount, 1)
        assert bucket is child._buckets[index]
        assert index == next(i for i, b in enumerate((*BOUNDS, float("inf"))) if amount <= b)
