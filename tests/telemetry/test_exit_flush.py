"""A worker's exit (app.telemetry.exit_flush): the span flush gets what is left of the stop
window gunicorn's master allows, minus the reserve; the stop signals note that window; the
heap is frozen afterwards so the interpreter's exit is quick."""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from app.telemetry import exit_flush
from app.telemetry.exit_flush import (
    EXIT_RESERVE_S,
    QUICK_STOP_S,
    flush_at_exit,
    flush_budget,
    note_stop,
    note_stop_signals,
)

pytestmark = pytest.mark.database_free

GRACEFUL_S = 25.0


@pytest.fixture(autouse=True)
def _no_stop_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exit_flush, "_stop_deadline", None)


def test_without_a_stop_signal_the_flush_gets_the_graceful_timeout_less_the_reserve() -> None:
    assert flush_budget(graceful_timeout_s=GRACEFUL_S, now=100.0, reserve_s=2.0) == 23.0


def test_after_sigterm_the_flush_gets_what_is_left_of_the_graceful_timeout() -> None:
    note_stop(GRACEFUL_S, now=100.0)  # SIGTERM at 100; the in-flight request ends at 118

    assert flush_budget(graceful_timeout_s=GRACEFUL_S, now=118.0, reserve_s=2.0) == 5.0
    assert flush_budget(graceful_timeout_s=GRACEFUL_S, now=124.0, reserve_s=2.0) == 0.0


def test_a_quick_stop_after_sigterm_shortens_the_window_and_not_the_reverse() -> None:
    note_stop(GRACEFUL_S, now=100.0)
    note_stop(QUICK_STOP_S, now=101.0)  # SIGINT or SIGQUIT: gone by 103
    note_stop(GRACEFUL_S, now=102.0)  # a later SIGTERM does not extend it

    assert flush_budget(graceful_timeout_s=GRACEFUL_S, now=101.5, reserve_s=0.5) == 1.0


@pytest.fixture
def recorded_handlers() -> Iterator[list[int]]:
    """SIGTERM, SIGINT and SIGQUIT handled by a recorder (as gunicorn's handlers would be),
    the previous handlers (and SIGTERM's restart behaviour) put back afterwards."""
    seen: list[int] = []
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
    previous = {signum: signal.getsignal(signum) for signum in signals}

    def record(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    for signum in signals:
        signal.signal(signum, record)
    yield seen
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_the_stop_signals_note_their_window_and_still_reach_gunicorns_handlers(
    recorded_handlers: list[int],
) -> None:
    note_stop_signals(graceful_timeout_s=GRACEFUL_S)

    signal.raise_signal(signal.SIGTERM)

    assert recorded_handlers == [signal.SIGTERM]
    budget = flush_budget(graceful_timeout_s=99.0, now=time.monotonic(), reserve_s=0.0)
    assert GRACEFUL_S - 1.0 < budget <= GRACEFUL_S  # SIGTERM's window, not the default 99

    signal.raise_signal(signal.SIGQUIT)

    assert recorded_handlers == [signal.SIGTERM, signal.SIGQUIT]
    assert (
        flush_budget(graceful_timeout_s=99.0, now=time.monotonic(), reserve_s=0.0) <= QUICK_STOP_S
    )


def test_the_exit_flush_leaves_the_reserve_and_sentrys_own_flush_then_freezes_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(
        exit_flush, "shutdown_tracing", lambda *, timeout_s: calls.append(("flush", timeout_s))
    )
    monkeypatch.setattr(exit_flush, "exit_flush_seconds", lambda: 2.0)  # Sentry on, 2 s
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(("freeze", 0.0)))

    flush_at_exit(graceful_timeout_s=10.0)

    assert calls == [
        ("flush", pytest.approx(10.0 - EXIT_RESERVE_S - 2.0, abs=0.05)),
        ("freeze", 0.0),
    ]
