"""The API, probes, error pages and static files as served by the real gunicorn process."""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import create_account
from tests.support.http import http
from tests.support.servers import Server

pytestmark = pytest.mark.e2e


def test_it_walks_a_todo_through_its_whole_life_over_http(server: Server) -> None:
    """Register, get a token, then create, list, update, delete and miss a todo."""
    auth = create_account(server).headers
    todos = f"{server.url}/api/todos/"

    created = http("POST", todos, json_body={"title": "buy milk"}, headers=auth)
    assert created.status == 201, created
    assert created.body["title"] == "buy milk"
    assert created.body["completed"] is False
    todo = f"{todos}{created.body['id']}/"

    listed = http("GET", todos, headers=auth)
    assert listed.status == 200, listed
    assert listed.body["count"] == 1
    assert [item["id"] for item in listed.body["results"]] == [created.body["id"]]

    patched = http("PATCH", todo, json_body={"completed": True}, headers=auth)
    assert patched.status == 200, patched
    assert (patched.body["title"], patched.body["completed"]) == ("buy milk", True)

    replaced = http(
        "PUT", todo, json_body={"title": "buy oat milk", "completed": False}, headers=auth
    )
    assert replaced.status == 200, replaced
    assert (replaced.body["title"], replaced.body["completed"]) == ("buy oat milk", False)

    retrieved = http("GET", todo, headers=auth)
    assert retrieved.status == 200, retrieved
    assert retrieved.body == replaced.body

    deleted = http("DELETE", todo, headers=auth)
    assert deleted.status == 204, deleted

    gone = http("GET", todo, headers=auth)
    assert gone.status == 404, gone
    assert gone.is_json()
    assert "detail" in gone.body


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_it_answers_the_probes_with_200_json(server: Server, path: str) -> None:
    """Liveness and readiness both pass on a healthy server, uncached."""
    response = http("GET", f"{server.url}{path}")
    assert response.status == 200, response
    assert response.is_json()
    assert response.body["status"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


def test_it_reports_every_readiness_check_passing(server: Server) -> None:
    """/readyz lists the database and cache checks it ran."""
    response = http("GET", f"{server.url}/readyz")
    assert response.body["failing"] == []
    assert {name: check["status"] for name, check in response.body["checks"].items()} == {
        "database": "ok",
        "cache": "ok",
    }


def test_it_refuses_requests_without_credentials_with_json_401(server: Server) -> None:
    """No bearer token: 401 with a JSON detail and a Bearer challenge."""
    response = http("GET", f"{server.url}/api/todos/")
    assert response.status == 401, response
    assert response.is_json()
    assert "detail" in response.body
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/no-such-page/", "/api/no-such-endpoint/", "/api/todos/x/"])
def test_it_answers_unknown_urls_with_json_404(server: Server, path: str) -> None:
    """Unknown paths get the JSON 404, not Django's HTML page."""
    response = http("GET", f"{server.url}{path}")
    assert response.status == 404, response
    assert response.is_json(), response.headers["Content-Type"]
    assert response.body == {"detail": "Not found."}


def test_it_serves_the_admin_login_page_and_its_css_itself(server: Server) -> None:
    """With debug off, WhiteNoise serves the admin's hashed CSS from the collected files."""
    page = http("GET", f"{server.url}/admin/login/")
    assert page.status == 200, page
    assert page.headers["Content-Type"].startswith("text/html")
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', page.body)
    assert stylesheets, page.body

    for href in stylesheets:
        css = http("GET", f"{server.url}{href}")
        assert css.status == 200, (href, css.status)
        assert css.headers["Content-Type"].startswith("text/css")
        assert css.body.strip()
        # A manifest-hashed name, served as immutable: WhiteNoise, not a fallback view.
        assert re.search(r"\.[0-9a-f]{12}\.css$", href), href
        assert "immutable" in css.headers["Cache-Control"]


def test_it_refuses_read_only_keys_and_unknown_sort_keys_over_http(server: Server) -> None:
    """Strict bodies and queries, as served: a 400 naming the read-only keys, a 400 listing the
    allowed sort keys; nothing is stored or silently re-ordered."""
    auth = create_account(server).headers
    todos = f"{server.url}/api/todos/"

    refused = http(
        "POST",
        todos,
        json_body={"title": "x", "id": 7, "created_at": "2020-01-01T00:00:00Z"},
        headers=auth,
    )
    unsorted = http("GET", f"{todos}?ordering=priority", headers=auth)
    listed = http("GET", todos, headers=auth)

    assert refused.status == 400, refused
    assert refused.body == {"id": ["Read-only field."], "created_at": ["Read-only field."]}
    assert unsorted.status == 400, unsorted
    (message,) = unsorted.body["ordering"]
    assert "allowed: created_at, -created_at, updated_at, -updated_at, title, -title" in message
    assert listed.body["count"] == 0
