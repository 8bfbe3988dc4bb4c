"""A client span per Redis command, by the stable database semantic conventions.

The cache backend (``app.cache.backends``) builds its redis-py clients from
:class:`TracedRedisCacheClient`, whose clients make a span per command and per pipeline, only
inside a recording (sampled) span: unsampled requests pay one ``is_recording()`` check.

Attributes: ``db.system.name=redis``, ``db.operation.name`` (the command as sent: ``GET``,
``SET``; a pipeline is ``PIPELINE``/``MULTI``, followed by its command when all are the same,
as the spec asks), ``db.namespace`` (the database index the connection was made with, as a
string), ``server.address``/``server.port`` (the port only when not 6379), and on failure
``error.type`` (the Redis error prefix such as ``WRONGTYPE`` when the server answered one,
else the exception's class) with ``db.response.status_code`` for server errors. Keys and
values are never recorded. The span is named by the operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
from django.core.cache.backends.redis import RedisCacheClient
from opentelemetry import trace
from opentelemetry.semconv.attributes import db_attributes, error_attributes, server_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.exceptions import ResponseError

from app.telemetry.tracing.attributes import set_trusted
from app.telemetry.tracing.current import recording_span
from app.telemetry.tracing.provider import INSTRUMENTATION_NAME, qualified_name
from app.telemetry.tracing.span_starts import SpanStarts

DEFAULT_PORT = 6379
_starts: tuple[Any, SpanStarts] | None = None  # the global provider's, with that provider


def _span_starts() -> SpanStarts:
    """The span starts of the global tracer provider (set up after this module is imported)."""
    global _starts  # noqa: PLW0603  # one per process, like the provider it follows
    provider = trace.get_tracer_provider()
    if _starts is None or _starts[0] is not provider:
        _starts = (provider, SpanStarts(provider.get_tracer(INSTRUMENTATION_NAME)))
    return _starts[1]


def connection_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The attributes every span of one connection pool shares."""
    attributes: dict[str, Any] = {
        db_attributes.DB_SYSTEM_NAME: "redis",
        db_attributes.DB_NAMESPACE: str(kwargs.get("db") or 0),
    }
    if "path" in kwargs:  # a unix socket
        attributes[server_attributes.SERVER_ADDRESS] = str(kwargs["path"])
    else:
        attributes[server_attributes.SERVER_ADDRESS] = str(kwargs.get("host") or "localhost")
        port = int(kwargs.get("port") or DEFAULT_PORT)
        if port != DEFAULT_PORT:
            attributes[server_attributes.SERVER_PORT] = port
    return attributes


def pipeline_operation(commands: Sequence[tuple[Any, ...]], *, transaction: bool) -> str:
    """``MULTI SET`` when every queued command is a ``SET``; ``MULTI`` (or ``PIPELINE``) else."""
    prefix = "MULTI" if transaction else "PIPELINE"
    names = {str(args[0]) for args, _ in commands if args}
    return f"{prefix} {names.pop()}" if len(names) == 1 else prefix


def _record_failure(span: Any, error: BaseException) -> None:
    if isinstance(error, ResponseError) and str(error):
        code = str(error).split(" ", 1)[0]
        span.set_attribute(db_attributes.DB_RESPONSE_STATUS_CODE, code)
        span.set_attribute(error_attributes.ERROR_TYPE, code)
    else:
        span.set_attribute(error_attributes.ERROR_TYPE, qualified_name(error))
    span.set_status(Status(StatusCode.ERROR))


def _traced(
    client: Any, operation: str, parent: trace.Span, call: Any, *args: Any, **kwargs: Any
) -> Any:
    """Run ``call`` inside a client span named ``operation``, a child of ``parent``."""
    pool = client.connection_pool  # shared by the short-lived clients Django makes per call
    attributes = pool.__dict__.get("_span_attributes")
    if attributes is None:
        attributes = connection_attributes(pool.connection_kwargs)
        pool._span_attributes = attributes
    span = _span_starts().child(operation, SpanKind.CLIENT, parent)  # sampled by its parent
    set_trusted(span, {**attributes, db_attributes.DB_OPERATION_NAME: operation})
    try:
        return call(*args, **kwargs)
    except BaseException as error:
        _record_failure(span, error)
        raise
    finally:
        span.end()


class TracedPipeline(redis.client.Pipeline):
    """A pipeline that is one span when executed."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        parent = recording_span()
        if not self.command_stack or parent is None:
            return super().execute(raise_on_error)
        transaction = cast(bool, self.transaction)  # an attribute shadowing the method
        operation = pipeline_operation(self.command_stack, transaction=transaction)
        result: list[Any] = _traced(self, operation, parent, super().execute, raise_on_error)
        return result


class TracedRedis(redis.Redis):
    """A redis-py client making a span per command inside a sampled request."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        parent = recording_span()
        if not args or parent is None:
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return _traced(self, str(args[0]), parent, super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> TracedPipeline:
        pool, callbacks = self.connection_pool, self.response_callbacks
        return TracedPipeline(pool, callbacks, transaction, shard_hint)


class TracedRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, handing out traced redis-py clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client = TracedRedis
