"""The batch export of spans, with every span accounted for: exported, or dropped with a reason.

``CountingBatchSpanProcessor`` is the SDK's batch processor (a bounded queue exported by a
background thread) wrapped so that each sampled span it takes is settled exactly once, in
``todos_otel_spans_exported_total`` or ``todos_otel_spans_dropped_total{reason}``:

- ``queue_full``: the queue was full, so the SDK pushed its oldest span out;
- ``export_failed``: the OTLP endpoint refused the batch, timed out or was unreachable;
- ``shutdown``: still queued, or in an export that had not finished, when the process stopped
  waiting for the collector (``shutdown(timeout_millis)``), or ended after that.

Shutdown is bounded: the queue is flushed until the timeout, and not at all past the first
failed export (a collector that just failed gets no second timeout per remaining batch). What
is left is counted and logged once (``spans_dropped_at_shutdown``). The SDK's own shutdown
waits up to 30 s and forgets what it could not send; the gunicorn worker calls this one with
what remains of its graceful window (``app.telemetry.exit_flush``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Literal

import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import Counter

logger = structlog.get_logger(__name__)

spans_dropped = Counter(
    "todos_otel_spans_dropped",
    "Spans not delivered to the OTLP endpoint, by reason (queue_full, export_failed, shutdown).",
    ["reason"],
)
spans_exported = Counter("todos_otel_spans_exported", "Spans the OTLP endpoint accepted.")
DROP_REASONS = ("queue_full", "export_failed", "shutdown")
for _reason in DROP_REASONS:  # exported at 0, so rates and alerts see them
    spans_dropped.labels(_reason)

Outcome = Literal["exported", "export_failed", "shutdown"]
DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000  # the SDK's own default


class SpanLedger:
    """The spans a batch processor holds (queued or being exported), each settled once.

    Thread-safe: spans end on request threads, batches settle on the export thread, and
    ``close`` runs on whichever thread shuts down. After ``close`` nothing is pending: a batch
    that finishes later is not counted again, and spans ending later count as dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._dropped_at_shutdown = 0

    @property
    def pending(self) -> int:
        """Spans taken and not yet settled."""
        return self._pending

    def queued(self, *, pushed_out: bool = False) -> None:
        """A span entered the queue; ``pushed_out``: the queue was full and lost its oldest."""
        with self._lock:
            if self._closed:
                spans_dropped.labels("shutdown").inc()
                return
            if pushed_out:
                spans_dropped.labels("queue_full").inc()
            else:
                self._pending += 1

    def settled(self, count: int, outcome: Outcome) -> None:
        """A batch of ``count`` spans left the queue: ``exported`` or dropped for ``outcome``."""
        with self._lock:
            if self._closed:
                return  # counted as dropped at shutdown already
            self._pending -= count
            if outcome == "shutdown":
                self._dropped_at_shutdown += count
        if outcome == "exported":
            spans_exported.inc(count)
        else:
            spans_dropped.labels(outcome).inc(count)

    def close(self) -> int:
        """Count every span still pending as dropped at shutdown; return how many spans were
        dropped at shutdown in all (these, and batches abandoned during it)."""
        with self._lock:
            self._closed = True
            dropped, self._pending = self._pending, 0
            self._dropped_at_shutdown += dropped
            total = self._dropped_at_shutdown
        if dropped:
            spans_dropped.labels("shutdown").inc(dropped)
        return total


class CountingExporter(SpanExporter):
    """Delegates to an exporter and settles each batch in ``ledger`` (exported or failed).

    While ``abandon`` is set (a shutdown met a failed export), batches are not sent any more:
    they are settled as dropped at shutdown at once.
    """

    def __init__(self, inner: SpanExporter, ledger: SpanLedger | None = None) -> None:
        self._inner = inner
        self._ledger = ledger or SpanLedger()
        self.shutting_down = threading.Event()
        self.abandon = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.abandon.is_set():
            self._ledger.settled(len(spans), "shutdown")
            return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
        except Exception:  # an exporter bug must not kill the export thread
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._ledger.settled(len(spans), "exported")
        else:
            self._ledger.settled(len(spans), "export_failed")
            if self.shutting_down.is_set():
                self.abandon.set()
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor over ``exporter``, every span accounted for in a ledger,
    with a bounded shutdown (see the module docstring)."""

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
    ) -> None:
        self.ledger = SpanLedger()
        self.counting_exporter = CountingExporter(exporter, self.ledger)
        super().__init__(
            self.counting_exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
        )
        self._shut_down = False
        self._shutdown_lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return  # the SDK queues sampled spans only
        processor = self._batch_processor
        self.ledger.queued(pushed_out=len(processor._queue) >= processor._max_queue_size)
        super().on_end(span)

    def shutdown(self, timeout_millis: float = DEFAULT_SHUTDOWN_TIMEOUT_MS) -> None:
        """Export what is queued for at most ``timeout_millis`` (and only until an export
        fails), then count and log what is left as dropped at shutdown. Runs once."""
        with self._shutdown_lock:
            if self._shut_down:
                return
            self._shut_down = True
        started = time.monotonic()
        pending = self.ledger.pending
        self.counting_exporter.shutting_down.set()
        self._batch_processor.shutdown(timeout_millis=max(0, int(timeout_millis)))
        dropped = self.ledger.close()
        if dropped:
            logger.warning(
                "spans_dropped_at_shutdown",
                dropped=dropped,
                pending=pending,
                flushed_for_s=round(time.monotonic() - started, 3),
                timeout_s=round(timeout_millis / 1000, 3),
                collector_failed=self.counting_exporter.abandon.is_set(),
                pid=os.getpid(),
            )
