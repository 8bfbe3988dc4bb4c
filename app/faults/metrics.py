"""The gauges that show which faults are active (``todos_fault_*``), whatever their source."""

from __future__ import annotations

from prometheus_client import Gauge

from app.faults.config import FaultConfig

fault_error_rate = Gauge(
    "todos_fault_error_rate",
    "Share of matching requests failed on purpose by fault injection (0 = off).",
    multiprocess_mode="livemax",
)
fault_latency_seconds = Gauge(
    "todos_fault_latency_seconds",
    "Latency added on purpose by fault injection, fixed part plus maximum jitter (0 = off).",
    multiprocess_mode="livemax",
)


def publish(config: FaultConfig) -> None:
    """Show ``config`` as the process's active faults."""
    fault_error_rate.set(config.error_rate)
    fault_latency_seconds.set((config.latency_ms + config.jitter_ms) / 1000)
