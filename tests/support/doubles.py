"""Test doubles: a clock moved by hand, a recorder standing in for a structlog logger, and
span exporters standing in for a collector (answering at once, or hanging until released)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


@dataclass
class FakeClock:
    """A monotonic clock the test moves forward by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


@dataclass
class RecordedLogs:
    """Stands in for the module's structlog logger: keeps ``(level, event, fields)``."""

    lines: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def events(self) -> list[str]:
        """The event names, in order."""
        return [event for _, event, _ in self.lines]


class StubExporter(SpanExporter):
    """A collector answering every batch with a fixed result; counts the batches and spans."""

    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.result = result
        self.batches = 0
        self.received = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches += 1
        self.received += len(spans)
        return self.result


class HungExporter(StubExporter):
    """A collector that accepts a batch and answers only once ``release`` is set (or after
    ``timeout_s``, like an exporter's own timeout), then with ``result``."""

    def __init__(
        self, result: SpanExportResult = SpanExportResult.SUCCESS, *, timeout_s: float = 10.0
    ) -> None:
        super().__init__(result)
        self.release = threading.Event()
        self.entered = threading.Event()
        self.timeout_s = timeout_s

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(timeout=self.timeout_s)
        return super().export(spans)
