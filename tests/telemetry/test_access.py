"""Request ids: taken from the caller when sane, generated otherwise, always echoed."""

from __future__ import annotations

import os
import random
import re
import uuid
from collections.abc import Callable
from typing import ClassVar

import pytest
import structlog
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.test import Client, RequestFactory

from app.telemetry import access
from app.telemetry.access import (
    REQUEST_ID_HEADER,
    echo_request_id,
    new_request_id,
    request_id_from,
)


@pytest.mark.parametrize("given", ["abc-123", "a" * 128, "trace.id:part_2"])
def test_a_sane_request_id_is_kept(given: str) -> None:
    assert request_id_from(RequestFactory().get("/", HTTP_X_REQUEST_ID=given)) == given


@pytest.mark.parametrize("given", ["", "a" * 129, "<script>", "a b", "x\u00e9"])
def test_anything_else_is_replaced_by_a_new_id(given: str) -> None:
    generated = request_id_from(RequestFactory().get("/", HTTP_X_REQUEST_ID=given))

    assert generated != given
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


@pytest.mark.django_db
def test_the_response_echoes_the_request_id(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_X_REQUEST_ID="from-the-caller")

    assert response["X-Request-ID"] == "from-the-caller"


@pytest.mark.django_db
def test_each_request_gets_its_own_generated_id(client: Client) -> None:
    first = client.get("/api/todos/")["X-Request-ID"]
    second = client.get("/api/todos/")["X-Request-ID"]

    assert first != second


def test_a_generated_id_is_a_version_4_uuid_in_hex() -> None:
    generated = {new_request_id() for _ in range(2000)}

    assert len(generated) == 2000
    for request_id in generated:
        parsed = uuid.UUID(request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == request_id
    # every variant digit (8, 9, a, b) turns up, as with uuid4: the top bits only are fixed
    assert {request_id[16] for request_id in generated} == set("89ab")


@pytest.mark.django_db
def test_no_request_id_stays_bound_after_a_request(client: Client) -> None:
    client.get("/api/todos/", HTTP_X_REQUEST_ID="first-request")

    assert "request_id" not in structlog.contextvars.get_contextvars()


def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    """gunicorn forks its workers from one master: each must draw ids of its own."""
    unseeded = random.Random()  # noqa: S311  # the generator under test, not a secret
    unseeded.setstate(access._request_ids.getstate())
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: one id, then out without running pytest's exit handlers
        os.write(writing, new_request_id().encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    from_child = os.read(reading, 64).decode()
    os.close(reading)

    mask = (0xF000 << 64) | (0xC000 << 48)
    parent_next = f"{unseeded.getrandbits(128) & ~mask | (0x4000 << 64) | (0x8000 << 48):032x}"
    assert re.fullmatch(r"[0-9a-f]{32}", from_child)
    assert from_child != parent_next


def test_the_request_id_is_bound_for_structlog_while_the_request_is_served() -> None:
    seen: list[dict[str, object]] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(structlog.contextvars.get_contextvars())
        return HttpResponse()

    with structlog.contextvars.bound_contextvars(request_id="outer"):
        access.RequestTelemetryMiddleware(view)(
            RequestFactory().get("/", HTTP_X_REQUEST_ID="inner-1")
        )
        after = structlog.contextvars.get_contextvars()

    assert seen == [{"request_id": "inner-1"}]
    assert after == {"request_id": "outer"}  # what was bound before, as it was


def _responses() -> list[Callable[[], HttpResponseBase]]:
    return [
        lambda: HttpResponse(b"{}"),
        lambda: StreamingHttpResponse(iter([b"x"])),
        lambda: HttpResponse(headers={"A": "b", "X-Request-ID": "old"}),
    ]


@pytest.mark.parametrize("make", _responses(), ids=["plain", "streaming", "replacing"])
def test_the_echoed_id_is_the_header_django_would_set(
    make: Callable[[], HttpResponseBase],
) -> None:
    expected, response = make(), make()
    expected[REQUEST_ID_HEADER] = "0123abcd-ef.45:67"

    echo_request_id(response, "0123abcd-ef.45:67")

    assert list(response.items()) == list(expected.items())
    assert response.headers["x-request-id"] == "0123abcd-ef.45:67"


def test_other_responses_get_the_header_the_usual_way() -> None:
    class Other:
        headers: ClassVar[dict[str, str]] = {}

        def __setitem__(self, name: str, value: str) -> None:
            self.headers[name] = value

    response = Other()
    echo_request_id(response, "id-1")  # type: ignore[arg-type]
    assert response.headers == {REQUEST_ID_HEADER: "id-1"}
