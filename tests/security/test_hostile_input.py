"""Hostile requests against the real gunicorn server: each is refused cleanly or stored safely.

Every case checks the status, the JSON error body where the application (not gunicorn)
answers, and, for refused writes, that the account's todos are exactly what they were. The
requests are written byte by byte on a socket, so bodies and headers can be malformed in
ways an HTTP library refuses to send. The suite runs on SQLite and on PostgreSQL (``make
test``); PostgreSQL cannot store NUL in text, which the API refuses before the database.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.support.accounts import Account, create_account
from tests.support.http import http
from tests.support.servers import Server, run_server_on_new_database

pytestmark = pytest.mark.e2e

UPLOAD_LIMIT = 65_536  # DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE for this module's server
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
TODOS = "/api/todos/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with a small upload limit, so "too large" stays cheap to send."""
    overrides = {"DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE": str(UPLOAD_LIMIT)}
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("hostile")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    """One user, with one todo, so "nothing changed" compares something."""
    user = create_account(server)
    created = http(
        "POST", f"{server.url}{TODOS}", json_body={"title": "existing"}, headers=user.headers
    )
    assert created.status == 201, created
    return user


# ------------------------------------------------------------------ raw HTTP
@dataclass(frozen=True)
class RawResponse:
    """Status line, headers (lower-cased names, every value) and body of one answer."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of header ``name``, or None."""
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    def json(self) -> Any:
        """The body as JSON; fails the test when the server did not declare JSON."""
        content_type = self.header("content-type") or ""
        assert content_type.startswith("application/json"), (content_type, self.body[:500])
        return json.loads(self.body)


def send_raw(
    server: Server,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str | bytes] | None = None,
    content_type: str | None = "application/json",
    timeout: float = 15.0,
) -> RawResponse:
    """Write one HTTP/1.1 request as given (no validation of names or values) and read the
    answer until the server closes the connection."""
    address = urlsplit(server.url)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {address.netloc}".encode()]
    all_headers: dict[str, str | bytes] = {"Connection": "close", "Accept": "application/json"}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    if body or method in {"POST", "PUT", "PATCH"}:
        all_headers["Content-Length"] = str(len(body))
    all_headers.update(headers or {})
    for name, value in all_headers.items():
        raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(name.encode("latin-1") + b": " + raw_value)
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection(
        (str(address.hostname), int(address.port or 80)), timeout=timeout
    ) as sock:
        # the server may answer (413, 400) and close before reading everything we send
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        received = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65_536):
                received += chunk
    return parse_response(bytes(received))


def parse_response(raw: bytes) -> RawResponse:
    """Split a complete HTTP/1.x answer (Content-Length or close-delimited)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1."), raw[:200]
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)


def auth(account: Account) -> dict[str, str | bytes]:
    """The account's bearer header for ``send_raw``."""
    return {"Authorization": f"Bearer {account.access}"}


def todos_of(server: Server, account: Account) -> list[dict[str, Any]]:
    """Every todo of the account, as the API lists them (id, title, state, timestamps)."""
    listed = http("GET", f"{server.url}{TODOS}?page_size=100", headers=account.headers)
    assert listed.status == 200, listed
    results: list[dict[str, Any]] = listed.body["results"]
    assert listed.body["count"] == len(results)
    return results


def assert_json_error(response: RawResponse, status: int) -> dict[str, Any]:
    """``response`` has ``status`` and a JSON object body (``detail`` or field errors)."""
    assert response.status == status, (response.status, response.body[:500])
    body = response.json()
    assert isinstance(body, dict), body
    assert body, body
    return body


def dumps(document: object) -> bytes:
    """Compact JSON bytes, as a client would send them."""
    return json.dumps(document).encode()


# ------------------------------------------------------------------ bodies
def test_a_body_over_the_upload_limit_is_refused_with_json_413(
    server: Server, account: Account
) -> None:
    before = todos_of(server, account)
    body = dumps({"title": "x" * 90, "padding": "y" * (UPLOAD_LIMIT + 1024)})

    response = send_raw(server, "POST", TODOS, body=body, headers=auth(account))

    assert assert_json_error(response, 413) == {"detail": "Request body too large."}
    assert todos_of(server, account) == before


def test_deeply_nested_json_is_a_400_not_a_recursion_error(
    server: Server, account: Account
) -> None:
    before = todos_of(server, account)
    depth = 30_000  # far past Python's recursion limit, well under the upload limit
    body = b'{"title": ' + b"[" * depth + b"]" * depth + b"}"

    response = send_raw(server, "POST", TODOS, body=body, headers=auth(account))

    body_json = assert_json_error(response, 400)
    assert "nested too deeply" in body_json["detail"]
    assert todos_of(server, account) == before
    assert "RecursionError" not in server.log()


@pytest.mark.parametrize(
    "body",
    [b'{"title": "\xff\xfe caf\xe9"}', b'{"title": "\xed\xa0\x80"}', b"\x80\x81\x82"],
    ids=["latin-1-bytes", "encoded-surrogate", "no-json-at-all"],
)
def test_a_body_that_is_not_utf8_is_a_json_400(
    server: Server, account: Account, body: bytes
) -> None:
    before = todos_of(server, account)

    response = send_raw(server, "POST", TODOS, body=body, headers=auth(account))

    assert "JSON parse error" in assert_json_error(response, 400)["detail"]
    assert todos_of(server, account) == before


def test_a_non_json_content_type_is_a_json_415(server: Server, account: Account) -> None:
    before = todos_of(server, account)

    response = send_raw(
        server,
        "POST",
        TODOS,
        body=b"title=buy+milk",
        content_type="application/x-www-form-urlencoded",
        headers=auth(account),
    )

    assert "detail" in assert_json_error(response, 415)
    assert todos_of(server, account) == before


# ------------------------------------------------------------------ titles
@pytest.mark.parametrize(
    "title", ["nul\x00byte", "\x00", "trailing nul\x00"], ids=["inside", "only", "trailing"]
)
def test_a_title_with_a_nul_character_is_refused_with_400_on_every_database(
    server: Server, account: Account, title: str
) -> None:
    """PostgreSQL cannot store NUL in text: the API refuses it (never a 500 from the DB)."""
    before = todos_of(server, account)
    existing = before[0]

    created = send_raw(server, "POST", TODOS, body=dumps({"title": title}), headers=auth(account))
    patched = send_raw(
        server,
        "PATCH",
        f"{TODOS}{existing['id']}/",
        body=dumps({"title": title}),
        headers=auth(account),
    )

    for response in (created, patched):
        assert assert_json_error(response, 400) == {"title": ["Null characters are not allowed."]}
    assert todos_of(server, account) == before


def test_a_nul_character_in_the_search_is_a_field_error(server: Server, account: Account) -> None:
    response = send_raw(server, "GET", f"{TODOS}?search=%00", headers=auth(account))

    assert assert_json_error(response, 400) == {"search": ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    "title",
    [
        "bell\x07 escape\x1b[31m red",
        "tab\tand newline\ninside",
        "del\x7f and c1\x85\x9b",
        "line\u2028separator\u2029paragraph",
        "bidi \u202eoverride\u202c zero\u200bwidth",
    ],
    ids=["c0-controls", "whitespace", "del-and-c1", "unicode-separators", "bidi-and-zero-width"],
)
def test_control_characters_in_a_title_are_stored_and_returned_verbatim(
    server: Server, account: Account, title: str
) -> None:
    created = send_raw(server, "POST", TODOS, body=dumps({"title": title}), headers=auth(account))

    assert created.status == 201, created
    assert created.json()["title"] == title
    fetched = http("GET", f"{server.url}{TODOS}{created.json()['id']}/", headers=account.headers)
    assert fetched.body["title"] == title


@pytest.mark.parametrize(
    "title",
    [
        "'; DROP TABLE todos_todo; --",
        '" OR 1=1 --',
        "{{7*7}}",
        "${7*7}",
        "{% debug %}",
        "<script>alert(1)</script>",
        "%s%s%s%n",
    ],
)
def test_injection_strings_are_stored_and_returned_verbatim(
    server: Server, account: Account, title: str
) -> None:
    created = send_raw(server, "POST", TODOS, body=dumps({"title": title}), headers=auth(account))

    assert created.status == 201, created
    assert created.json()["title"] == title
    assert created.header("content-type") == "application/json"
    found = http(
        "GET", f"{server.url}{TODOS}?search={quote(title, safe='')}", headers=account.headers
    )
    assert found.status == 200, found
    assert [todo["title"] for todo in found.body["results"]] == [title]
    # the table is still there and still holds the earlier todos
    assert any(todo["title"] == "existing" for todo in todos_of(server, account))


# ------------------------------------------------------------------ ids
@pytest.mark.parametrize(
    "todo_id",
    ["99999999999999999999", "9223372036854775808", "9223372036854775807", "0", "-1", "1e3"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_an_id_out_of_range_or_negative_is_a_json_404(
    server: Server, account: Account, todo_id: str, method: str
) -> None:
    before = todos_of(server, account)

    response = send_raw(
        server,
        method,
        f"{TODOS}{todo_id}/",
        body=dumps({"title": "overflow", "completed": True}) if method in {"PUT", "PATCH"} else b"",
        headers=auth(account),
    )

    assert "detail" in assert_json_error(response, 404)
    assert todos_of(server, account) == before


# ------------------------------------------------------------------ fields and types
def test_unknown_fields_are_refused_with_a_field_error(server: Server, account: Account) -> None:
    before = todos_of(server, account)
    body = dumps({"title": "ok", "owner": 1, "user_id": 7, "is_staff": True})

    response = send_raw(server, "POST", TODOS, body=body, headers=auth(account))

    assert assert_json_error(response, 400) == {
        "is_staff": ["Unknown field."],
        "owner": ["Unknown field."],
        "user_id": ["Unknown field."],
    }
    assert todos_of(server, account) == before


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"title": 123}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": {"$ne": ""}}, "title"),
        ({"title": None}, "title"),
        ({"title": "ok", "completed": "yes"}, "completed"),
        ({"title": "ok", "completed": 1}, "completed"),
        ([{"title": "a list"}], "non_field_errors"),
        ("just a string", "non_field_errors"),
        (None, "non_field_errors"),
    ],
)
def test_wrong_json_types_are_refused_with_a_field_error(
    server: Server, account: Account, document: object, field: str
) -> None:
    before = todos_of(server, account)

    response = send_raw(server, "POST", TODOS, body=dumps(document), headers=auth(account))

    errors = assert_json_error(response, 400)
    assert list(errors) == [field], errors
    assert todos_of(server, account) == before


def test_an_invalid_page_size_is_a_field_error(server: Server, account: Account) -> None:
    for value in ("abc", "0", "-5", "1.5", "null"):
        response = send_raw(server, "GET", f"{TODOS}?page_size={value}", headers=auth(account))
        assert assert_json_error(response, 400) == {
            "page_size": ["A positive integer is required."]
        }, value


# ------------------------------------------------------------------ headers
@pytest.mark.parametrize(
    ("value", "echoed"),
    [
        # a line break ends the header on the wire: the client smuggled a second header,
        # the app only ever sees (and echoes) the plain "abc" before it
        (b"abc\r\nX-Injected: yes", "abc"),
        (b"abc\nSet-Cookie: session=evil", "abc"),
        ("x" * 4000, None),
        ("caf\u00e9-\u00fcber".encode(), None),
        (b"<script>alert(1)</script>", None),
        (b"id with spaces", None),
        (b"", None),
    ],
    ids=["crlf", "bare-lf", "very-long", "non-ascii", "markup", "spaces", "empty"],
)
def test_a_hostile_request_id_is_never_reflected_raw(
    server: Server, account: Account, value: bytes | str, echoed: str | None
) -> None:
    """Replaced by a generated id (``echoed`` None), or only its plain part comes back."""
    response = send_raw(server, "GET", TODOS, headers={**auth(account), "X-Request-ID": value})

    assert response.status in {200, 400}, (response.status, response.body[:300])
    assert "x-injected" not in response.headers
    assert "set-cookie" not in response.headers
    if response.status == 200:  # accepted by gunicorn: the app answered with one safe id
        request_ids = response.headers["x-request-id"]
        assert len(request_ids) == 1, request_ids
        if echoed is None:
            assert GENERATED_REQUEST_ID.fullmatch(request_ids[0]), request_ids
        else:
            assert request_ids == [echoed]


def test_a_plain_request_id_is_echoed(server: Server, account: Account) -> None:
    """The counterpart: a sane id passes through, so the test above can tell them apart."""
    response = send_raw(
        server, "GET", TODOS, headers={**auth(account), "X-Request-ID": "trace-42.a:b"}
    )

    assert response.status == 200
    assert response.header("x-request-id") == "trace-42.a:b"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (TODOS, {"X-Filler": "a" * 65_536}),  # one 64 KiB header: limit_request_field_size
        (TODOS, {f"X-Filler-{n}": "a" for n in range(200)}),  # limit_request_fields
        (TODOS + "?search=" + "a" * 10_000, {}),  # limit_request_line
    ],
    ids=["64k-header", "200-headers", "10k-request-line"],
)
def test_oversized_request_heads_are_refused_by_gunicorn_not_a_500(
    server: Server, account: Account, path: str, headers: dict[str, str | bytes]
) -> None:
    before = todos_of(server, account)

    response = send_raw(server, "GET", path, headers={**auth(account), **headers})

    assert response.status in {400, 414, 431}, (response.status, response.body[:300])
    assert http("GET", f"{server.url}/healthz").status == 200
    assert todos_of(server, account) == before


def test_no_hostile_request_crashed_a_worker(server: Server) -> None:
    """Runs last in this module: the server log has no traceback and no 500."""
    log = server.log()
    assert "Traceback" not in log, log[-5000:]
    assert '"status":500' not in log.replace(" ", ""), log[-5000:]
    assert server.process.poll() is None
