"""OTLP/protobuf encoding of finished spans, written straight to the wire format.

The OTLP exporter's own encoder builds a protobuf object per span, attribute and value before
serializing: about 29 µs per span on the benchmark machine, paid on the worker's core by the
export thread. This encoder writes the same ``ExportTraceServiceRequest`` bytes directly (the
protobuf wire format is a small, stable specification) and remembers the bytes of attribute
pairs it has seen, since most repeat from span to span (``http.request.method=GET``,
``db.system.name=sqlite``...). A test decodes its output with the official protobuf classes
and compares it with the official encoder's, field by field.

Message layout (opentelemetry-proto, trace/v1 and common/v1): ``ExportTraceServiceRequest``
1: ResourceSpans {1: Resource {1: KeyValue...}, 2: ScopeSpans {1: InstrumentationScope,
2: Span...}}; Span {1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id, 5 name, 6 kind,
7 start, 8 end, 9 attributes, 10 dropped attributes, 11 events, 12 dropped events, 13 links,
14 dropped links, 15 status, 16 flags}.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

# proto3 wire types
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_double = struct.Struct("<d").pack

# SpanFlags: the span says whether its parent was remote.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_ENCODED_ATTRIBUTES_LIMIT = 8192


_SMALL = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative numbers as their 64-bit two's complement."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


_LEN_TAGS = {field: bytes(((field << 3) | _LEN,)) for field in range(1, 16)}


def _field(field: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, sub-messages)."""
    size = len(payload)
    return _LEN_TAGS[field] + (_SMALL[size] if size < 0x80 else varint(size)) + payload


def _string(field: int, text: str) -> bytes:
    return _field(field, text.encode("utf-8")) if text else b""


def _uint(field: int, value: int) -> bytes:
    return _tag(field, _VARINT) + varint(value) if value else b""


def encode_value(value: Any) -> bytes:  # noqa: PLR0911  # one return per OTLP value type
    """An ``AnyValue`` message (string, bool, int, double, bytes, array or key-value list)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _tag(2, _VARINT) + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(1, value.encode("utf-8"))
    if isinstance(value, int):
        return _tag(3, _VARINT) + varint(value)
    if isinstance(value, float):
        return _tag(4, _FIXED64) + _pack_double(value)
    if isinstance(value, bytes):
        return _field(7, value)
    if isinstance(value, Sequence):
        return _field(5, b"".join(_field(1, encode_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(6, b"".join(_field(1, encode_key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"cannot encode {type(value).__name__} as an OTLP attribute value")


def encode_key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue`` message."""
    return _string(1, key) + _field(2, encode_value(value))


# The bytes of whole attribute fields already encoded, by field number, key and typed value.
_encoded_attributes: dict[tuple[int, str, type, Any], bytes] = {}
# Only attributes whose values repeat are remembered. Per-request values (``url.path`` with an
# id, ``url.query``, captured headers such as ``x-request-id``, client addresses, user agents)
# would never be hit again, only fill the cache up to its limit (tracemalloc named this cache
# the largest growing allocation of a worker serving thousands of requests).
_REPEATING_KEYS = frozenset(
    {
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "url.scheme",
        "server.address",
        "server.port",
        "network.protocol.version",
        "error.type",
        "db.system.name",
        "db.namespace",
        "db.operation.name",
        "db.collection.name",
        "db.query.text",  # parameterised: one per statement in the code
        "db.query.summary",  # operation and tables, never a value: one per statement too
        "db.response.status_code",
    }
)


# Strings that repeat from span to span, as encoded fields: attribute keys (field 1 of a
# ``KeyValue``) and span names (field 5 of a ``Span``: one per route and per statement).
_encoded_keys: dict[str, bytes] = {}
_encoded_names: dict[str, bytes] = {}
_ENCODED_STRINGS_LIMIT = 1024


def _remembered_string(cache: dict[str, bytes], field: int, text: str) -> bytes:
    """``text`` as field ``field``, encoded once and kept in ``cache`` (emptied when full)."""
    encoded = cache.get(text)
    if encoded is None:
        if len(cache) >= _ENCODED_STRINGS_LIMIT:
            cache.clear()
        encoded = cache[text] = _string(field, text)
    return encoded


def _string_attribute(field: int, key: str, value: str) -> bytes:
    """A ``KeyValue`` with a string value, in few calls: the common case of a value that does
    not repeat (``url.path``, request ids, client addresses)."""
    any_value = _field(1, value.encode("utf-8"))  # AnyValue.string_value
    return _field(field, _remembered_string(_encoded_keys, 1, key) + _field(2, any_value))


def _attribute(field: int, key: str, value: Any) -> bytes:
    """One attribute as a ``KeyValue`` field, remembered when its value repeats."""
    if key not in _REPEATING_KEYS:
        if type(value) is str and key:
            return _string_attribute(field, key, value)
        return _field(field, encode_key_value(key, value))
    try:
        cache_key = (field, key, type(value), value)
        cached = _encoded_attributes.get(cache_key)
    except TypeError:  # an unhashable value (a list): encode every time
        return _field(field, encode_key_value(key, value))
    if cached is None:
        if len(_encoded_attributes) >= _ENCODED_ATTRIBUTES_LIMIT:
            _encoded_attributes.clear()
        cached = _encoded_attributes[cache_key] = _field(field, encode_key_value(key, value))
    return cached


# Whole attribute blocks whose every key repeats (a query span's ``db.*`` attributes: one block
# per statement in the code), by field number, items and value types (``True == 1``).
_encoded_blocks: dict[tuple[int, tuple[Any, ...], tuple[type, ...]], bytes] = {}


def _attributes(field: int, attributes: Mapping[str, Any] | None) -> bytes:
    """Every attribute as a repeated ``KeyValue`` field number ``field``."""
    # The SDK's BoundedAttributes iterates through the generic Mapping mixin (a lookup and a
    # lock per item) and counts through a Python ``__len__``; its plain dict, when there, gives
    # the same items directly.
    plain = getattr(attributes, "_dict", attributes)
    if not plain:
        return b""
    block_key = None
    if plain.keys() <= _REPEATING_KEYS:
        block_key = (field, tuple(plain.items()), tuple(map(type, plain.values())))
        try:
            cached = _encoded_blocks.get(block_key)
        except TypeError:  # an unhashable value (a list): encode every time
            block_key = cached = None
        if cached is not None:
            return cached
    encoded = b"".join([_attribute(field, key, value) for key, value in plain.items()])
    if block_key is not None:
        if len(_encoded_blocks) >= _ENCODED_STRINGS_LIMIT:
            _encoded_blocks.clear()
        _encoded_blocks[block_key] = encoded
    return encoded


def _flags(field: int, context: SpanContext | None) -> bytes:
    """SpanFlags: whether the parent (or the linked span) is remote is known, and its value."""
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if context is not None and context.is_remote else 0)
    return _tag(field, _FIXED32) + _pack_fixed32(flags)


def _trace_state(context: SpanContext) -> str:
    state = context.trace_state
    return ",".join(f"{key}={value}" for key, value in state.items()) if state else ""


_START, _END = _tag(7, _FIXED64), _tag(8, _FIXED64)
_KINDS = [_tag(6, _VARINT) + varint(kind + 1) for kind in range(5)]  # SDK INTERNAL=0 is OTLP 1


def encode_span(span: ReadableSpan) -> bytes:
    """A ``Span`` message."""
    if isinstance(span, ReadableSpan):  # its own fields: the properties are calls, some copy
        context, parent, name = span._context, span._parent, span._name
        kind, start, end, status = span._kind, span._start_time, span._end_time, span._status
        attributes: Mapping[str, Any] | None = span._attributes
        events: Sequence[Any] = span._events
        links: Sequence[Any] = span._links
        # a BoundedList counts through a Python ``__len__``: its deque, when there, directly
        has_events = bool(getattr(events, "_dq", events))
        has_links = bool(getattr(links, "_dq", links))
    else:
        context, parent, name = span.get_span_context(), span.parent, span.name
        kind, start, end, status = span.kind, span.start_time, span.end_time, span.status
        attributes, events, links = span.attributes, span.events, span.links
        has_events, has_links = bool(events), bool(links)
    if context is None:  # a finished SDK span always has one
        raise ValueError(f"span {name!r} has no context")
    # A SpanContext is the tuple (trace_id, span_id, is_remote, flags, trace_state, is_valid):
    # unpacked at once, not read through six Python properties.
    trace_id, span_id, _, _, trace_state, _ = context
    parts = [
        b"\x0a\x10",  # 1: trace_id, 16 bytes
        trace_id.to_bytes(16, "big"),
        b"\x12\x08",  # 2: span_id, 8 bytes
        span_id.to_bytes(8, "big"),
    ]
    if trace_state:
        parts.append(_string(3, _trace_state(context)))
    remote_parent = False
    if parent is not None:
        _, parent_span_id, remote_parent, _, _, _ = parent
        parts += (b"\x22\x08", parent_span_id.to_bytes(8, "big"))  # 4: parent_span_id
    parts += (
        _remembered_string(_encoded_names, 5, name),
        _KINDS[kind._value_],  # the member's own value: ``.value`` is a Python property
        _START,
        _pack_fixed64(start or 0),
        _END,
        _pack_fixed64(end or 0),
        _attributes(9, attributes),
    )
    dropped = getattr(attributes, "dropped", 0)
    if dropped:
        parts.append(_uint(10, dropped))
    if has_events:
        parts += [_field(11, _event(event)) for event in events]
        parts.append(_uint(12, getattr(events, "dropped", 0)))
    if has_links:
        parts += [_field(13, _link(link)) for link in links]
        parts.append(_uint(14, getattr(links, "dropped", 0)))
    parts += (
        _UNSET_STATUS
        if status.status_code is StatusCode.UNSET and not status.description
        else _field(15, _status(status)),
        _REMOTE_PARENT if remote_parent else _LOCAL_PARENT,
    )
    return b"".join(parts)


def _status(status: Status) -> bytes:
    """A ``Status`` message."""
    return _string(2, status.description or "") + _uint(3, status.status_code.value)


_UNSET_STATUS = _field(15, b"")  # the status most spans carry: unset, no description
_LOCAL_PARENT = _flags(16, None)
_REMOTE_PARENT = _flags(16, SpanContext(1, 1, is_remote=True))


def _event(event: Any) -> bytes:
    return (
        _tag(1, _FIXED64)
        + _pack_fixed64(event.timestamp)
        + _string(2, event.name)
        + _attributes(3, event.attributes)
        + _uint(4, event.dropped_attributes)
    )


def _link(link: Any) -> bytes:
    context = link.context
    return (
        _field(1, context.trace_id.to_bytes(16, "big"))
        + _field(2, context.span_id.to_bytes(8, "big"))
        + _attributes(4, link.attributes)
        + _uint(5, link.dropped_attributes)
        + _flags(6, context)
    )


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    return (
        _string(1, scope.name) + _string(2, scope.version or "") + _attributes(3, scope.attributes)
    )


def encode_spans(spans: Iterable[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest``: spans grouped by resource, then by scope."""
    # Grouped by object identity first: a Resource hashes by serializing its attributes to JSON,
    # too slow to do once per span; equal resources are then merged as the official encoder does.
    resources: dict[int, Any] = {}
    by_identity: dict[int, dict[Any, list[bytes]]] = {}
    for span in spans:
        if isinstance(span, ReadableSpan):  # its own fields: the properties are Python calls
            resource, scope = span._resource, span._instrumentation_scope or None
        else:
            resource, scope = span.resource, span.instrumentation_scope or None
        key = id(resource)
        if key not in resources:
            resources[key] = resource
            by_identity[key] = {}
        by_identity[key].setdefault(scope, []).append(encode_span(span))
    grouped: dict[Any, dict[Any, list[bytes]]] = {}
    for key, scopes in by_identity.items():
        merged = grouped.setdefault(resources[key], {})
        for scope, encoded in scopes.items():
            merged.setdefault(scope, []).extend(encoded)
    request = []
    for resource, scopes in grouped.items():
        scope_spans = b"".join(
            _field(
                2,
                _field(1, _scope(scope))
                + b"".join(_field(2, encoded) for encoded in encoded_spans)
                + _string(3, scope.schema_url if scope is not None else ""),
            )
            for scope, encoded_spans in scopes.items()
        )
        resource_spans = (
            _field(1, _attributes(1, resource.attributes))
            + scope_spans
            + _string(3, resource.schema_url)
        )
        request.append(_field(1, resource_spans))
    return b"".join(request)
