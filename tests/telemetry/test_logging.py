"""The structlog pipeline: formats, fields, trace context and redaction."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_span_id, format_trace_id
from structlog.testing import CapturingLogger

from app.telemetry import logging as telemetry_logging
from app.telemetry.logging import (
    REDACTED,
    EventWriter,
    RedactingJSONRenderer,
    UTCTimestamps,
    log_format,
    logging_config,
    needs_redaction,
    redact,
    render_json,
)

pytestmark = pytest.mark.database_free


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Install the JSON configuration writing to a buffer; restore the suite's afterwards."""
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    monkeypatch.setattr(telemetry_logging, "output_stream", lambda: buffer)
    logging.config.dictConfig(logging_config(level="INFO", fmt="json"))
    yield buffer
    from django.conf import settings  # noqa: PLC0415

    logging.config.dictConfig(settings.LOGGING)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_stdlib_records_become_json_with_service_identity(json_lines: io.StringIO) -> None:
    logging.getLogger("some.library").warning("disk %s", "full")

    (line,) = lines(json_lines)
    assert line["event"] == "disk full"
    assert line["level"] == "warning"
    assert line["logger"] == "some.library"
    assert line["timestamp"].endswith("Z")
    assert {"service", "service_version", "environment"} <= set(line)


def test_structlog_events_carry_bound_context(json_lines: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        structlog.get_logger("app.test").info("hello", answer=42)
    finally:
        structlog.contextvars.clear_contextvars()

    (line,) = lines(json_lines)
    assert (line["event"], line["request_id"], line["answer"]) == ("hello", "r-1", 42)


def test_structlog_events_have_the_fields_of_stdlib_records_in_the_same_order(
    json_lines: io.StringIO,
) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        structlog.get_logger("app.test").warning("careful", answer=42)
    finally:
        structlog.contextvars.clear_contextvars()
    logging.getLogger("app.test").warning("careful")

    ours, stdlib = (list(line) for line in lines(json_lines))
    assert ours == [
        "answer",
        "event",
        "request_id",
        "level",
        "logger",
        "timestamp",
        "service",
        "service_version",
        "environment",
    ]
    assert [key for key in ours if key not in {"answer", "request_id"}] == stdlib
    first, second = lines(json_lines)
    assert (first["level"], first["logger"]) == (second["level"], second["logger"])


@pytest.mark.parametrize(
    "nanoseconds",
    [
        0,
        1_764_800_000_000_000_000,  # a whole second: no fraction, as datetime.isoformat
        1_764_800_000_000_999,  # under a microsecond past it: still none
        1_764_800_000_123_456_789,
        1_764_800_059_999_999_000,
        1_764_800_060_000_001_000,
    ],
)
def test_timestamps_are_what_structlogs_iso_utc_stamper_writes(nanoseconds: int) -> None:
    stamps = UTCTimestamps()
    stamps.at(nanoseconds - 10**9)  # a second earlier first: the cached second moves on
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanoseconds // 1000)
    assert stamps.at(nanoseconds) == moment.isoformat().replace("+00:00", "Z")


def test_the_timestamp_is_now() -> None:
    stamp = datetime.fromisoformat(UTCTimestamps().now())
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5


def test_events_inside_a_span_carry_its_ids(json_lines: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        structlog.get_logger("app.test").info("inside")
    context = span.get_span_context()

    (line,) = lines(json_lines)
    assert line["trace_id"] == format_trace_id(context.trace_id)
    assert line["span_id"] == format_span_id(context.span_id)


def test_exceptions_are_structured_tracebacks(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("django.request").exception("Internal Server Error: /x")

    (line,) = lines(json_lines)
    frames = line["exception"]
    assert frames[0]["exc_type"] == "ValueError"
    assert frames[0]["exc_value"] == "boom"


class _QueriesWhenShown:
    """Stands for a lazy QuerySet: showing it (``repr``) would run a query."""

    shown = 0

    def __repr__(self) -> str:
        type(self).shown += 1
        return "<QuerySet [...]>"


def test_a_logged_exception_does_not_render_the_frames_locals(json_lines: io.StringIO) -> None:
    """Rendering a QuerySet local re-ran its failing query (more DB errors counted), and
    locals can hold a request's secrets."""
    todos = _QueriesWhenShown()
    password = "a-long-secret-pass"  # a local the traceback must not carry
    try:
        raise RuntimeError("query failed")
    except RuntimeError:
        logging.getLogger("django.request").exception("Internal Server Error: /api/todos/")

    (line,) = lines(json_lines)
    assert line["exception"][0]["frames"]
    assert _QueriesWhenShown.shown == 0
    assert password not in json_lines.getvalue()
    assert repr(todos)  # the local was there to be shown


def test_secret_keys_and_token_shapes_are_redacted(json_lines: io.StringIO) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"
    structlog.get_logger("app.test").info(
        "login", password="hunter2", headers={"Authorization": "x"}, note=f"sent {jwt}"
    )

    (line,) = lines(json_lines)
    assert line["password"] == REDACTED
    assert line["headers"]["Authorization"] == REDACTED
    assert jwt not in json_lines.getvalue()
    assert "hunter2" not in json_lines.getvalue()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"refresh": "r", "access": "a", "title": "t"},
            {"refresh": REDACTED, "access": REDACTED, "title": "t"},
        ),
        (["Bearer abc.def", "plain"], [f"Bearer {REDACTED}", "plain"]),
        (
            {"nested": {"api_key": "k", "cookie": "c"}},
            {"nested": {"api_key": REDACTED, "cookie": REDACTED}},
        ),
        (42, 42),
    ],
)
def test_redact(value: Any, expected: Any) -> None:
    assert redact(value) == expected


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"
ACCESS_EVENT = {
    "method": "GET",
    "route": "/api/todos/{id}/",
    "status": 200,
    "duration_ms": 1.25,
    "user_id": 7,
    "event": "request_finished",
    "request_id": "0a1b2c",
    "level": "info",
    "logger": "app.access",
    "timestamp": "2026-12-02T22:49:05.130776Z",
    "service": "todo-api",
}


@pytest.mark.parametrize(
    "event",
    [
        ACCESS_EVENT,
        {**ACCESS_EVENT, "request_id": JWT},
        {**ACCESS_EVENT, "note": "sent bearer\tabc.def"},
        {**ACCESS_EVENT, "note": "BASIC dXNlcjpwYXNz"},
        {**ACCESS_EVENT, "access": "a", "Authorization": "x"},
        {**ACCESS_EVENT, "headers": {"Cookie": "c"}, "items": ("Bearer t", 1)},
        {**ACCESS_EVENT, "when": object, "missing": None, "ok": True},
        {**ACCESS_EVENT, "nested": [{"password": "p", "ok": 1}], "tuple": ("x", JWT)},
        {**ACCESS_EVENT, "text": "a {brace} and [bracket]", "passwordless": "x"},
        {**ACCESS_EVENT, "as_text": Exception(f"sent {JWT}"), "fine": "eyj"},
        {**ACCESS_EVENT, "note": "Bearer\u2003abc"},  # whitespace beyond ASCII
        {**ACCESS_EVENT, "note": "basic\x1cabc", "other": "BEARER\u3000x"},  # control, ideographic
        {**ACCESS_EVENT, "note": "bearer\nabc"},  # an escape in the line
        {**ACCESS_EVENT, "note": "bearer", "other": "a b"},  # word and space apart: unchanged
        {**ACCESS_EVENT, "route": "/api/todos/{id}/", "list": [JWT]},
    ],
)
def test_the_renderer_writes_what_redacting_every_field_writes(event: dict[str, Any]) -> None:
    expected = orjson.dumps(redact(event), default=str)
    assert RedactingJSONRenderer(text=False)(None, "info", dict(event)) == expected
    assert RedactingJSONRenderer(text=True)(None, "info", dict(event)) == expected.decode()


def needs(event: dict[str, Any]) -> bool:
    return needs_redaction(event, orjson.dumps(event, default=str))


def test_a_plain_access_event_is_rendered_without_redacting_each_field() -> None:
    assert not needs(ACCESS_EVENT)
    assert needs({**ACCESS_EVENT, "token": "t"})
    assert needs({**ACCESS_EVENT, "request_id": JWT})
    assert needs({**ACCESS_EVENT, "extra": {"a": 1}})
    assert needs({**ACCESS_EVENT, "extra": ["a"]})
    assert needs({**ACCESS_EVENT, "note": "Basic dXNlcjpwYXNz"})
    assert not needs({**ACCESS_EVENT, "route": "/api/todos/{id}/", "text": "eyj"})
    assert needs({**ACCESS_EVENT, "note": "sent\u00a0Basic x"})
    assert needs({**ACCESS_EVENT, "note": "eyJ"})
    # keys learned safe from the plain event do not hide a secret one next to them
    assert needs({**ACCESS_EVENT, "password": "p"})
    assert not needs(ACCESS_EVENT)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event": "e", "n": 2**70, "m": -(2**64)}, {"event": "e", "n": 2**70, "m": -(2**64)}),
        (
            {"event": "e", "by_id": {1: "a", (2, 3): "b"}},
            {"event": "e", "by_id": {"1": "a", "(2, 3)": "b"}},
        ),
        ({"event": "e", "nested": [{None: 2**65}]}, {"event": "e", "nested": [{"None": 2**65}]}),
        (
            {"event": "e", "at": datetime(2026, 12, 4, 14, 0, 1, 5, tzinfo=UTC), 7: 2**70},
            {"event": "e", "at": "2026-12-04T14:00:01.000005+00:00", "7": 2**70},
        ),
    ],
)
def test_what_orjson_refuses_is_written_through_the_standard_library(
    event: dict[Any, Any], expected: dict[str, Any]
) -> None:
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(event, default=str)
    assert json.loads(render_json(event)) == expected


def test_an_event_that_cannot_be_encoded_at_all_is_written_as_text() -> None:
    looped: dict[str, Any] = {"event": "e"}
    looped["self"] = looped
    assert json.loads(render_json({"event": "e", "looped": looped, "n": 2**70})) == {
        "event": "e",
        "looped": str(looped),
        "n": str(2**70),
    }


def test_a_log_call_with_such_fields_writes_its_line_redacted(json_lines: io.StringIO) -> None:
    structlog.get_logger("t").info("big", n=2**70, by_id={1: "Bearer abc.def"}, password="p")
    logging.getLogger("t").warning("stdlib", extra={"n": 2**70})
    big, stdlib = lines(json_lines)
    assert (big["event"], big["n"], big["password"]) == ("big", 2**70, REDACTED)
    assert big["by_id"] == {"1": f"Bearer {REDACTED}"}
    assert (stdlib["event"], stdlib["n"]) == ("stdlib", 2**70)


def test_format_follows_log_format_then_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert log_format("json") == "json"
    assert log_format("console") == "console"
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a TTY
    assert log_format() == "json"


def test_console_lines_leave_out_the_service_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    logging.config.dictConfig(logging_config(level="INFO", fmt="console"))
    try:
        logging.getLogger("app.test").info("readable")
    finally:
        from django.conf import settings  # noqa: PLC0415

        logging.config.dictConfig(settings.LOGGING)

    assert "readable" in buffer.getvalue()
    assert "service_version" not in buffer.getvalue()
    assert telemetry_logging.service_fields()  # the identity is known, just not printed


_FRAGMENTS = st.sampled_from(
    ["bearer", "Basic", "BEARER", "eyJ", "eyj", " ", "\u2003", "\t", "\x1c", ".", "abcd", "{", "["]
)
_TEXT = st.one_of(st.text(max_size=12), st.lists(_FRAGMENTS, max_size=6).map("".join))
# within 64 bits: orjson refuses larger integers (TypeError), whatever the redaction
_VALUES = st.one_of(_TEXT, st.integers(-(2**63), 2**64 - 1), st.none(), st.lists(_TEXT, max_size=3))
_KEYS = st.one_of(
    st.sampled_from(["note", "password", "route", "Cookie", "x"]), st.text(max_size=8)
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_any_event_is_rendered_as_redacting_every_field_would(fields: dict[str, Any]) -> None:
    event = {**ACCESS_EVENT, **fields}
    expected = orjson.dumps(redact(event), default=str)
    assert RedactingJSONRenderer(text=False)(None, "info", dict(event)) == expected


def _without_time(line: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key != "timestamp"}


@pytest.mark.parametrize("level", [logging.INFO, logging.ERROR])
def test_an_event_writer_writes_what_the_bound_loggers_call_writes(
    json_lines: io.StringIO, level: int
) -> None:
    logger = structlog.get_logger("app.access").bind()
    fields = {"method": "GET", "status": 200, "note": "Bearer abc", "extra": {"token": "t"}}
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        getattr(logger, logging.getLevelName(level).lower())("request_finished", **fields)
        EventWriter(logger).write(level, "request_finished", dict(fields))

    called, written = lines(json_lines)
    assert list(written) == list(called)  # same fields, same order
    assert _without_time(written) == _without_time(called)
    assert written["note"] == f"Bearer {REDACTED}"


def _capturing(*, min_level: int, processors: list[Any]) -> tuple[Any, CapturingLogger]:
    output = CapturingLogger()
    logger = structlog.wrap_logger(
        output,
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
    )
    return logger, output


def test_an_event_writer_leaves_out_levels_below_the_loggers() -> None:
    logger, output = _capturing(min_level=logging.WARNING, processors=[])
    writer = EventWriter(logger)

    writer.write(logging.INFO, "quiet", {"a": 1})
    writer.write(logging.ERROR, "loud", {"a": 2})

    assert [(call.method_name, call.kwargs) for call in output.calls] == [
        ("error", {"a": 2, "event": "loud"})
    ]


def test_an_event_a_processor_drops_is_not_written() -> None:
    def drop(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        raise structlog.DropEvent

    logger, output = _capturing(min_level=logging.INFO, processors=[drop])
    EventWriter(logger).write(logging.INFO, "dropped", {})

    assert output.calls == []


def test_an_event_writer_calls_other_loggers_the_usual_way() -> None:
    output = CapturingLogger()
    logger = structlog.wrap_logger(output, processors=[], wrapper_class=structlog.BoundLogger)

    EventWriter(logger).write(logging.WARNING, "usual", {"a": 1})

    assert [(call.method_name, call.kwargs) for call in output.calls] == [
        ("warning", {"a": 1, "event": "usual"})
    ]


@pytest.fixture
def app_json_events(json_lines: io.StringIO) -> Iterator[io.StringIO]:
    """The app's structlog events configured as JSON (``configure_structlog``), written to the
    buffer; the suite's structlog configuration restored afterwards."""
    saved = structlog.get_config()
    telemetry_logging.configure_structlog(fmt="json")
    yield json_lines
    structlog.configure(**saved)


def test_the_apps_json_events_are_written_in_line_as_their_processors_write_them(
    app_json_events: io.StringIO,
) -> None:
    logger = structlog.get_logger("app.access").bind(bound="yes")
    writer = EventWriter(logger)
    assert writer._json is not None  # the in-line chain, not structlog's loop
    fields = {"method": "POST", "status": 500, "note": "Bearer abc", "extra": {"token": "t"}}
    with structlog.contextvars.bound_contextvars(request_id="r-1", tenant="t-2"):
        structlog.contextvars.bind_contextvars(gone="x")
        structlog.contextvars.unbind_contextvars("gone")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.error("request_finished", exc_info=True, **fields)
            writer.write(logging.ERROR, "request_finished", {"exc_info": True, **fields})
        logger.info("request_finished", **fields)
        writer.write(logging.INFO, "request_finished", dict(fields))

    called_error, written_error, called, written = lines(app_json_events)
    for expected, actual in ((called_error, written_error), (called, written)):
        assert list(actual) == list(expected)  # same fields, same order
        assert _without_time(actual) == _without_time(expected)
    assert written["bound"] == "yes"
    assert (written["request_id"], written["tenant"]) == ("r-1", "t-2")
    assert "gone" not in written
    assert written["note"] == f"Bearer {REDACTED}"
    assert written_error["exception"][0]["exc_type"] == "ValueError"


def test_other_chains_and_outputs_are_not_written_in_line() -> None:
    logger, _ = _capturing(min_level=logging.INFO, processors=[])
    assert EventWriter(logger)._json is None
    console = structlog.wrap_logger(
        telemetry_logging.StdoutLogger(),
        processors=telemetry_logging._structlog_processors("console"),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    assert EventWriter(console)._json is None
    json_to_a_capture = structlog.wrap_logger(
        CapturingLogger(),
        processors=telemetry_logging._structlog_processors("json"),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    assert EventWriter(json_to_a_capture)._json is None


def test_structlog_context_is_merged_as_structlogs_own_processor_merges_it() -> None:
    with structlog.contextvars.bound_contextvars(request_id="r-1", user="u"):
        structlog.contextvars.bind_contextvars(cleared="x")
        structlog.contextvars.unbind_contextvars("cleared")
        with structlog.contextvars.bound_contextvars(user="inner"):
            ours = telemetry_logging.merge_structlog_context(None, "info", {"user": "own"})
            theirs = structlog.contextvars.merge_contextvars(None, "info", {"user": "own"})
            assert ours == theirs == {"user": "own", "request_id": "r-1"}
            assert telemetry_logging.merge_structlog_context(None, "info", {}) == (
                structlog.contextvars.merge_contextvars(None, "info", {})
            )
    assert telemetry_logging.merge_structlog_context(None, "info", {}) == {}


def test_a_key_bound_while_the_context_is_merged_does_not_break_the_merge() -> None:
    registry = telemetry_logging._STRUCTLOG_VARIABLES
    assert isinstance(registry, dict)

    class BindsWhenRead:
        """A variable whose reading binds a new key, as another thread might meanwhile."""

        def get(self, default: Any) -> Any:
            structlog.contextvars.bind_contextvars(bound_meanwhile=1)
            return default

    registry["structlog_binds_when_read"] = BindsWhenRead()
    try:
        with structlog.contextvars.bound_contextvars(request_id="r-1"):
            merged = telemetry_logging.merge_structlog_context(None, "info", {})
        assert merged["request_id"] == "r-1"
    finally:
        del registry["structlog_binds_when_read"]
        structlog.contextvars.unbind_contextvars("bound_meanwhile")
        registry.pop("structlog_bound_meanwhile", None)
