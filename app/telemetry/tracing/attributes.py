"""Writing the attributes this package builds onto SDK spans, without re-validating them.

The SDK validates every attribute value it is given (type checks, sequence copies, length
limits) under a lock: about a third of what making a span costs (callgrind: 164k of 516k
instructions for a server span and two query spans). The attributes ``http_spans``,
``db_spans`` and ``redis_spans`` build are already valid by construction: non-empty string
keys, values that are ``str``, ``bool``, ``int`` or tuples of ``str``. ``set_trusted``
writes those straight into the span's attribute dict when that gives the same result as the
SDK would: a recording SDK span, no value-length limit configured
(``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT``), and room
under the attribute count limit. Any other span goes through ``set_attributes``, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue


def set_trusted(span: Any, attributes: Mapping[str, AttributeValue]) -> None:
    """Set ``attributes`` (valid by construction) on ``span``, skipping the SDK's validation
    when that cannot change the outcome."""
    bounded = getattr(span, "_attributes", None)
    store = getattr(bounded, "_dict", None)
    limit = getattr(bounded, "maxlen", None)  # None: no count limit
    if (
        type(store) is not dict
        or getattr(bounded, "_immutable", True)  # an ended span ignores new attributes
        or getattr(bounded, "max_value_len", None) is not None
        or (limit is not None and len(store) + len(attributes) > limit)
    ):
        span.set_attributes(attributes)
        return
    store.update(attributes)
