"""A gunicorn worker's exit: deliver what telemetry holds within gunicorn's graceful window.

After SIGTERM gunicorn's master gives its workers ``graceful_timeout`` seconds, then SIGKILLs
them. A worker still waiting on a hung collector would lose its queued spans uncounted, and the
master's exit would take the whole window. So each worker notes when it is told to stop
(``note_stop_signals``, from gunicorn's ``post_worker_init`` hook), and its ``worker_exit`` hook
(``flush_at_exit``, after the last request is answered) gives the span export what is left of
the window, minus ``EXIT_RESERVE_S`` and Sentry's own exit flush. Spans not delivered by then
are counted as dropped at shutdown (``app.telemetry.tracing.export``). The window:

- SIGTERM (graceful stop): ``graceful_timeout`` from the signal;
- SIGINT or SIGQUIT (quick stop): ``QUICK_STOP_S`` from the signal, gunicorn's allowance then;
- no signal (a recycled worker): ``graceful_timeout`` from the exit.

Runs in the worker only; gunicorn.conf.py imports it inside the hooks, never in the master.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from app.telemetry.errors import exit_flush_seconds
from app.telemetry.tracing.provider import shutdown_tracing

# Left for the rest of the exit after the flush: atexit handlers, the interpreter's teardown
# (with the heap frozen, about 0.5 s from the last count to the master's exit for three
# workers on the project's 2-core machine; 1-2.3 s without the freeze), and margin for a busy
# machine.
EXIT_RESERVE_S = 2.0
QUICK_STOP_S = 2.0  # what gunicorn's master waits for workers after SIGINT/SIGQUIT

Handler = Callable[[int, FrameType | None], Any]

_stop_deadline: float | None = None  # time.monotonic() by which this worker must be gone


def note_stop_signals(*, graceful_timeout_s: float) -> None:
    """Wrap the worker's SIGTERM, SIGINT and SIGQUIT handlers (gunicorn's) so that each first
    notes the deadline the signal sets; call once the worker installed its handlers."""
    for signum, window_s in (
        (signal.SIGTERM, graceful_timeout_s),
        (signal.SIGINT, QUICK_STOP_S),
        (signal.SIGQUIT, QUICK_STOP_S),
    ):
        handler = signal.getsignal(signum)
        if callable(handler):
            signal.signal(signum, _noting_deadline(handler, window_s))
    # signal.signal() made SIGTERM interrupt system calls again; gunicorn does not want that
    # (a request being served must not see EINTR).
    signal.siginterrupt(signal.SIGTERM, False)


def _noting_deadline(handler: Handler, window_s: float) -> Handler:
    def noted(signum: int, frame: FrameType | None) -> Any:
        note_stop(window_s)
        return handler(signum, frame)

    return noted


def note_stop(window_s: float, *, now: float | None = None) -> None:
    """This worker was told to stop and is gone ``window_s`` from now (the earliest wins)."""
    global _stop_deadline  # noqa: PLW0603  # one worker process, one deadline
    deadline = (time.monotonic() if now is None else now) + window_s
    if _stop_deadline is None or deadline < _stop_deadline:
        _stop_deadline = deadline


def flush_budget(*, graceful_timeout_s: float, now: float, reserve_s: float) -> float:
    """Seconds the span export may still take, at ``now``: what is left of the window the stop
    signal set (``graceful_timeout_s`` from now without one), minus ``reserve_s``; at least 0."""
    deadline = now + graceful_timeout_s if _stop_deadline is None else _stop_deadline
    return max(0.0, deadline - now - reserve_s)


def flush_at_exit(*, graceful_timeout_s: float) -> None:
    """Flush the queued spans within the stop window, then count what is left as dropped."""
    budget = flush_budget(
        graceful_timeout_s=graceful_timeout_s,
        now=time.monotonic(),
        reserve_s=EXIT_RESERVE_S + exit_flush_seconds(),
    )
    shutdown_tracing(timeout_s=budget)
    # The interpreter's teardown then collects the whole heap, cycles included: 0.4-0.6 s of
    # CPU per worker here, all workers at once. Frozen objects are left to the OS (the process
    # ends anyway); atexit handlers and plain deallocation still run.
    gc.freeze()
