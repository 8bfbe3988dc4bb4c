"""Users registered over HTTP on a running server, with their JWT pair."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.support.http import http
from tests.support.servers import Server


@dataclass(frozen=True)
class Account:
    """A user registered over HTTP, with the JWT pair the token endpoint returned."""

    id: int
    username: str
    password: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for API calls."""
        return {"Authorization": f"Bearer {self.access}"}


def create_account(server: Server, *, password: str | None = None) -> Account:
    """Register a fresh user and obtain a token pair, both over HTTP; check both answers."""
    credentials = {
        "username": f"e2e-{secrets.token_hex(5)}",
        "password": password or f"pw-{secrets.token_urlsafe(18)}",
    }
    registered = http("POST", f"{server.url}/api/auth/register/", json_body=credentials)
    assert registered.status == 201, registered
    assert registered.body["username"] == credentials["username"]
    assert "password" not in registered.body
    token = http("POST", f"{server.url}/api/auth/token/", json_body=credentials)
    assert token.status == 200, token
    assert set(token.body) >= {"access", "refresh"}
    return Account(
        id=int(registered.body["id"]),
        username=credentials["username"],
        password=credentials["password"],
        access=str(token.body["access"]),
        refresh=str(token.body["refresh"]),
    )
