"""Security headers, cookies and exposure of the real server with production settings.

gunicorn runs as in production behind a TLS-terminating proxy: debug off, HTTPS redirect,
HSTS, secure cookies, and ``DJANGO_SECURE_PROXY_SSL_HEADER=true`` so a request carrying
``X-Forwarded-Proto: https`` (what the proxy adds) counts as HTTPS. Requests here play the
proxy by sending that header. Checked: HSTS, nosniff, Referrer-Policy, framing refused,
Secure/HttpOnly/SameSite cookies, no version in ``Server``, no debug output, and what is not
reachable on the public port (metrics, the admin without a staff session, the fault switch
without staff rights). ``manage.py check --deploy`` with production settings is tested in
tests/test_settings.py.
"""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support.http import Response, http
from tests.support.servers import Server, manage, run_server_on_new_database

pytestmark = pytest.mark.e2e

HSTS_SECONDS = 31_536_000
TLS = {"X-Forwarded-Proto": "https"}
STAFF = ("sec-ops", f"pw-{secrets.token_urlsafe(18)}")
# Pages of every kind the service renders: JSON errors and data, HTML docs and admin pages.
PAGES = ["/api/todos/", "/api/does-not-exist/", "/api/docs/", "/admin/login/", "/api/schema/"]


@dataclass(frozen=True)
class Account:
    """A normal user registered over HTTPS, with an access token."""

    username: str
    password: str
    access: str

    @property
    def headers(self) -> dict[str, str]:
        return {**TLS, "Authorization": f"Bearer {self.access}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Production settings behind a TLS proxy (the secure defaults the e2e fixture relaxes)."""
    overrides = {
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SESSION_COOKIE_SECURE": "true",
        "DJANGO_CSRF_COOKIE_SECURE": "true",
        "DJANGO_SECURE_HSTS_SECONDS": str(HSTS_SECONDS),
        "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
        "DEPLOYMENT_ENVIRONMENT": "production",
    }
    with run_server_on_new_database(
        overrides, directory=tmp_path_factory.mktemp("security-headers")
    ) as running:
        manage(
            "ensure_demo_user",
            "--staff",
            "--username",
            STAFF[0],
            "--password",
            STAFF[1],
            "--base-url",
            running.url,
            env=running.env,
        )
        yield running


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    credentials = {"username": f"sec-{secrets.token_hex(5)}", "password": STAFF[1] + "x"}
    registered = http(
        "POST", f"{server.url}/api/auth/register/", json_body=credentials, headers=TLS
    )
    assert registered.status == 201, registered
    token = http("POST", f"{server.url}/api/auth/token/", json_body=credentials, headers=TLS)
    assert token.status == 200, token
    return Account(credentials["username"], credentials["password"], token.body["access"])


def https(
    server: Server, path: str, method: str = "GET", headers: Mapping[str, str] | None = None
) -> Response:
    """A request as the TLS proxy forwards it."""
    return http(method, f"{server.url}{path}", headers={**TLS, **(headers or {})})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_FORMS = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post_form(url: str, fields: Mapping[str, str], *, headers: Mapping[str, str]) -> Response:
    """POST an HTML form (what a browser sends to the admin); redirects are returned."""
    request = urllib.request.Request(url, data=urlencode(fields).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with _FORMS.open(request, timeout=15) as answer:
            return Response(answer.status, answer.headers, answer.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read().decode())


def cookies_of(response: Response) -> dict[str, dict[str, Any]]:
    """Each ``Set-Cookie``: name to its attributes (flags as booleans, lower-case names)."""
    found: dict[str, dict[str, Any]] = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            found[name] = {key: morsel[key] for key in morsel if morsel[key]}
            found[name]["value"] = morsel.value
    return found


# ------------------------------------------------------------------ transport


def test_plain_http_is_redirected_to_https(server: Server) -> None:
    response = http("GET", f"{server.url}/api/todos/?page=2")

    assert response.status == 301, response
    assert response.headers["Location"] == f"https://{server.url.split('://')[1]}/api/todos/?page=2"


def test_the_probes_stay_on_plain_http(server: Server) -> None:
    """kubelet probes over HTTP must not be redirected (SECURE_REDIRECT_EXEMPT)."""
    assert http("GET", f"{server.url}/healthz").status == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_kind_of_page_carries_the_security_headers(server: Server, path: str) -> None:
    response = https(server, path)

    assert response.status in {200, 401, 404}, response
    headers = response.headers
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_SECONDS}; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    # drf-spectacular relaxes COOP on the Swagger UI page on purpose (its OAuth2 popup)
    expected_coop = "unsafe-none" if path == "/api/docs/" else "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == expected_coop


@pytest.mark.parametrize("path", [*PAGES, "/healthz", "/metrics"])
def test_no_header_names_the_server_software_version(server: Server, path: str) -> None:
    response = https(server, path)

    server_header = response.headers.get("Server", "")
    assert not re.search(r"\d", server_header), server_header  # "gunicorn", never "gunicorn/27"
    assert "X-Powered-By" not in response.headers


def test_errors_show_no_debug_output(server: Server, account: Account) -> None:
    for response in (
        https(server, "/no/such/page/"),
        https(server, "/api/todos/not-a-number/", headers=account.headers),
        http("POST", f"{server.url}/api/todos/", json_body=[1], headers=account.headers),
    ):
        assert response.is_json(), response
        text = str(response.body)
        assert "Traceback" not in text
        assert "DEBUG" not in text
        assert "urlpatterns" not in text


# ------------------------------------------------------------------ cookies


def test_the_csrf_cookie_is_secure_http_only_and_same_site(server: Server) -> None:
    response = https(server, "/admin/login/")

    csrf = cookies_of(response)["csrftoken"]
    assert csrf.get("secure") is True
    assert csrf.get("httponly") is True
    assert csrf.get("samesite") == "Lax"


def test_the_session_cookie_of_a_staff_login_is_secure_and_http_only(server: Server) -> None:
    form = https(server, "/admin/login/")
    csrf = cookies_of(form)["csrftoken"]["value"]
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', str(form.body))
    assert match, form.body

    login = post_form(
        f"{server.url}/admin/login/?next=/admin/",
        {"csrfmiddlewaretoken": match.group(1), "username": STAFF[0], "password": STAFF[1]},
        headers={
            **TLS,
            "Cookie": f"csrftoken={csrf}",
            "Origin": f"https://{server.url.split('://')[1]}",
        },
    )

    assert login.status == 302, login
    session = cookies_of(login)["sessionid"]
    assert session.get("secure") is True
    assert session.get("httponly") is True
    assert session.get("samesite") == "Lax"


def test_the_api_sets_no_cookies(server: Server, account: Account) -> None:
    for response in (
        https(server, "/api/todos/", headers=account.headers),
        http("POST", f"{server.url}/api/todos/", json_body={"title": "t"}, headers=account.headers),
    ):
        assert response.status in {200, 201}, response
        assert not response.headers.get_all("Set-Cookie")


# ------------------------------------------------------------------ what the public port hides


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/api/metrics", "/prometheus/metrics"])
def test_metrics_are_not_served_on_the_public_port(server: Server, path: str) -> None:
    assert https(server, path).status == 404


def test_metrics_are_served_on_their_own_port(server: Server) -> None:
    """The control for the test above."""
    assert http("GET", server.metrics_url).status == 200


@pytest.mark.parametrize("path", ["/admin/", "/admin/auth/user/", "/admin/faults/"])
def test_the_admin_sends_anonymous_callers_and_token_holders_to_its_login(
    server: Server, account: Account, path: str
) -> None:
    for headers in ({}, account.headers):
        response = https(server, path, headers=headers)
        assert response.status == 302, response
        assert response.headers["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_fault_switch_is_refused_to_anonymous_callers_and_normal_users(
    server: Server, account: Account, method: str
) -> None:
    anonymous = https(server, "/api/faults/", method=method)
    normal_user = https(server, "/api/faults/", method=method, headers=account.headers)

    assert anonymous.status == 401, anonymous
    assert normal_user.status == 403, normal_user
