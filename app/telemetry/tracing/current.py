"""The active span, read from OpenTelemetry's context variable in one step.

``trace.get_current_span()`` goes through four functions (``get_value``, ``get_current``, the
runtime context's ``get_current``, then the lookup) to read one context variable, then checks
the value against the ``Span`` ABC; the request path asks for the active span for every query,
every exemplar and every log line, sampled or not. ``current_span()`` reads the same variable
directly when the runtime context is the default (``contextvars``, what
``OTEL_PYTHON_CONTEXT`` selects unless set otherwise) and checks each class once, and calls the
API otherwise: the same span either way.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry import context, trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, Span
from opentelemetry.trace.propagation import _SPAN_KEY


def _context_variable() -> ContextVar[context.Context] | None:
    """The variable holding the current context, when the runtime context is the default."""
    runtime = context._RUNTIME_CONTEXT
    if type(runtime) is ContextVarsRuntimeContext:
        return runtime._current_context
    return None


_CURRENT_CONTEXT = _context_variable()
# The classes found to be spans: ``isinstance`` against the ``Span`` ABC costs more than the
# rest of the lookup, and a process makes spans of two or three classes.
_SPAN_CLASSES: set[type] = set()


def _is_span(value: Any) -> bool:
    """Whether ``value`` is a ``Span``, its class remembered when it is (the slow path: a
    class not seen yet, or no span at all)."""
    if value is None or not isinstance(value, Span):
        return False
    _SPAN_CLASSES.add(type(value))
    return True


def current_span() -> Span:
    """What ``trace.get_current_span()`` returns: the active span, or ``INVALID_SPAN``."""
    if _CURRENT_CONTEXT is None:
        return trace.get_current_span()
    span: Any = _CURRENT_CONTEXT.get().get(_SPAN_KEY)
    if type(span) in _SPAN_CLASSES or _is_span(span):  # a known class: no ABC check again
        return span  # type: ignore[no-any-return]  # its class is one of Span's
    return INVALID_SPAN


def recording_span() -> Span | None:
    """The active span when it is recording (sampled), else ``None``: the check a query or a
    Redis command makes before its own span, in one call. The span of an unsampled request (a
    ``NonRecordingSpan``, as is ``INVALID_SPAN``) is told by its class, without a call."""
    if _CURRENT_CONTEXT is None:
        found = trace.get_current_span()
        return found if found.is_recording() else None
    span: Any = _CURRENT_CONTEXT.get().get(_SPAN_KEY)
    if span is None or type(span) is NonRecordingSpan:
        return None
    if type(span) not in _SPAN_CLASSES and not _is_span(span):
        return None  # not a span at all (``current_span`` reads it as INVALID_SPAN)
    return span if span.is_recording() else None
