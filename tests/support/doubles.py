"""Test doubles: a clock moved by hand and a recorder standing in for a structlog logger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
