"""Span export (app.telemetry.tracing.export): every span exported or dropped with a reason,
and a shutdown that waits no longer than it is given."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler

from app.telemetry.tracing import export
from app.telemetry.tracing.export import (
    DROP_REASONS,
    CountingBatchSpanProcessor,
    CountingExporter,
    spans_dropped,
    spans_exported,
)
from tests.support.doubles import HungExporter, RecordedLogs, StubExporter
from tests.support.waiting import poll

pytestmark = pytest.mark.database_free

SPANS = 40
BATCH = 8


class Counts:
    """``todos_otel_spans_*`` of this process since the snapshot was taken."""

    def __init__(self) -> None:
        self._start = self._now()

    @staticmethod
    def _now() -> dict[str, float]:
        values = {r: float(spans_dropped.labels(r)._value.get()) for r in DROP_REASONS}
        values["exported"] = float(spans_exported._value.get())
        return values

    def since(self) -> dict[str, float]:
        now = self._now()
        return {key: now[key] - self._start[key] for key in now}


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> RecordedLogs:
    recorded = RecordedLogs()
    monkeypatch.setattr(export, "logger", recorded)
    return recorded


@pytest.fixture
def hung() -> Iterator[HungExporter]:
    """A collector that never answers during the test; released at the end."""
    exporter = HungExporter()
    yield exporter
    exporter.release.set()


Pipeline = Callable[..., tuple[trace.Tracer, CountingBatchSpanProcessor]]


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    """Make a tracer whose spans go through a counting batch processor to an exporter, in
    batches of ``BATCH`` sent once full (the scheduled delay is a minute). Every processor is
    shut down at the end, so no export of this test is counted in a later one."""
    made: list[CountingBatchSpanProcessor] = []

    def make(
        exporter: StubExporter, *, queue: int = 64, sampler: Sampler | None = None
    ) -> tuple[trace.Tracer, CountingBatchSpanProcessor]:
        processor = CountingBatchSpanProcessor(
            exporter,
            max_queue_size=queue,
            max_export_batch_size=BATCH,
            schedule_delay_millis=60_000,
        )
        provider = TracerProvider(shutdown_on_exit=False, sampler=sampler)
        provider.add_span_processor(processor)
        made.append(processor)
        return provider.get_tracer("test"), processor

    yield make
    for processor in made:
        processor.shutdown(timeout_millis=0)


def end_spans(tracer: trace.Tracer, count: int) -> None:
    for _ in range(count):
        tracer.start_span("work").end()


def ended_span() -> ReadableSpan:
    span = TracerProvider(shutdown_on_exit=False).get_tracer("test").start_span("s")
    span.end()
    assert isinstance(span, ReadableSpan)
    return span


def timed_shutdown(processor: CountingBatchSpanProcessor, timeout_s: float) -> float:
    started = time.monotonic()
    processor.shutdown(timeout_millis=timeout_s * 1000)
    return time.monotonic() - started


def test_failed_exports_count_their_spans_as_dropped() -> None:
    counts = Counts()
    exporter = CountingExporter(StubExporter(SpanExportResult.FAILURE))

    exporter.export([ended_span(), ended_span()])

    assert counts.since()["export_failed"] == 2


def test_a_full_queue_counts_each_span_it_pushes_out(
    hung: HungExporter, pipeline: Pipeline
) -> None:
    counts = Counts()
    tracer, processor = pipeline(hung, queue=BATCH)

    end_spans(tracer, BATCH)  # one batch: taken by the export thread, which hangs
    assert hung.entered.wait(5)
    end_spans(tracer, BATCH + 5)  # fills the queue again, then pushes 5 out

    assert counts.since()["queue_full"] == 5
    assert processor.ledger.pending == 2 * BATCH  # the hung batch and a full queue


def test_a_healthy_collector_gets_everything_at_shutdown(
    logs: RecordedLogs, pipeline: Pipeline
) -> None:
    counts = Counts()
    collector = StubExporter()
    tracer, processor = pipeline(collector)
    end_spans(tracer, SPANS + 3)  # the last 3 wait for the scheduled delay

    timed_shutdown(processor, timeout_s=5.0)

    assert collector.received == SPANS + 3
    assert counts.since() == {
        "exported": SPANS + 3,
        "queue_full": 0,
        "export_failed": 0,
        "shutdown": 0,
    }
    assert logs.events() == []


def test_a_hung_collector_holds_the_shutdown_for_its_timeout_only(
    hung: HungExporter, logs: RecordedLogs, pipeline: Pipeline
) -> None:
    counts = Counts()
    tracer, processor = pipeline(hung)
    end_spans(tracer, SPANS)
    assert hung.entered.wait(5)

    took_s = timed_shutdown(processor, timeout_s=0.3)

    assert 0.25 <= took_s < 1.5
    assert counts.since()["shutdown"] == SPANS  # the batch in the hung export, and the queue
    assert counts.since()["exported"] == 0
    (level, event, fields) = logs.lines[-1]
    assert (level, event) == ("warning", "spans_dropped_at_shutdown")
    assert fields["dropped"] == fields["pending"] == SPANS
    assert fields["collector_failed"] is False


def test_a_batch_answered_after_the_shutdown_is_not_counted_twice(
    hung: HungExporter, pipeline: Pipeline
) -> None:
    counts = Counts()
    tracer, processor = pipeline(hung)
    end_spans(tracer, BATCH)
    assert hung.entered.wait(5)
    timed_shutdown(processor, timeout_s=0.1)

    hung.release.set()  # the collector answers the batch after all
    poll(
        lambda: hung.batches,
        lambda batches: batches == 1,
        timeout=5.0,
        interval=0.02,
        failure=lambda batches: f"the hung export never returned ({batches})",
    )

    assert counts.since()["shutdown"] == BATCH
    assert counts.since()["exported"] == 0


def test_after_a_failed_export_at_shutdown_the_rest_is_dropped_at_once(
    logs: RecordedLogs, pipeline: Pipeline
) -> None:
    counts = Counts()
    failing = HungExporter(SpanExportResult.FAILURE)
    tracer, processor = pipeline(failing)
    end_spans(tracer, SPANS)
    assert failing.entered.wait(5)
    threading.Timer(0.1, failing.release.set).start()  # the hung export fails during shutdown

    took_s = timed_shutdown(processor, timeout_s=5.0)

    assert took_s < 2.0  # not five more timeouts, one per remaining batch
    assert failing.batches == 1  # nothing more was sent to the failing collector
    assert counts.since()["export_failed"] == BATCH
    assert counts.since()["shutdown"] == SPANS - BATCH
    (_, event, fields) = logs.lines[-1]
    assert event == "spans_dropped_at_shutdown"
    assert fields["dropped"] == SPANS - BATCH
    assert fields["collector_failed"] is True


def test_spans_ending_after_the_shutdown_are_counted_as_dropped(pipeline: Pipeline) -> None:
    tracer, processor = pipeline(StubExporter())
    timed_shutdown(processor, timeout_s=1.0)
    counts = Counts()

    end_spans(tracer, 3)

    assert counts.since()["shutdown"] == 3


def test_unsampled_spans_are_not_counted(pipeline: Pipeline) -> None:
    counts = Counts()
    tracer, processor = pipeline(StubExporter(), sampler=ALWAYS_OFF)

    end_spans(tracer, SPANS)
    timed_shutdown(processor, timeout_s=1.0)

    assert processor.ledger.pending == 0
    assert set(counts.since().values()) == {0}


def test_a_second_shutdown_returns_at_once(hung: HungExporter, pipeline: Pipeline) -> None:
    tracer, processor = pipeline(hung)
    end_spans(tracer, BATCH)
    timed_shutdown(processor, timeout_s=0.2)

    assert timed_shutdown(processor, timeout_s=5.0) < 0.1
