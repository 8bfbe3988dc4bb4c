"""JWT bookkeeping for the simulated clients: when must an access token be refreshed?

The claims are read without verifying the signature: the client only needs ``exp`` (and
``iat``) to refresh in time, and it never holds the server's key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

REFRESH_EARLY_SECONDS = 30.0  # refresh this long before expiry (300 s access tokens by default)
REFRESH_EARLY_SHARE = 0.25  # ... but never earlier than the last quarter of a short lifetime


class TokenError(ValueError):
    """The server's token is not a JWT with an ``exp`` claim."""


def claims(token: str) -> dict[str, object]:
    """The JWT's payload, decoded without verifying the signature."""
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError) as error:
        raise TokenError(f"not a JWT: {error}") from error
    if not isinstance(decoded, dict):
        raise TokenError("the JWT payload is not an object")
    return decoded


@dataclass(frozen=True)
class AccessToken:
    """An access token and the moment (epoch seconds) to refresh it."""

    value: str
    expires_at: float
    refresh_at: float

    @classmethod
    def parse(cls, value: str) -> AccessToken:
        """Read ``exp`` (and ``iat``, if present) and schedule the refresh."""
        payload = claims(value)
        exp, iat = payload.get("exp"), payload.get("iat")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise TokenError("the JWT has no numeric exp claim")
        issued = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
        return cls(value=value, expires_at=float(exp), refresh_at=refresh_time(float(exp), issued))

    def due(self, now: float) -> bool:
        """True when the token should be refreshed before the next request."""
        return now >= self.refresh_at


def refresh_time(expires_at: float, issued_at: float | None) -> float:
    """When to refresh: 30 s before expiry, or a quarter of the lifetime if that is shorter."""
    early = REFRESH_EARLY_SECONDS
    if issued_at is not None and expires_at > issued_at:
        early = min(early, (expires_at - issued_at) * REFRESH_EARLY_SHARE)
    return expires_at - early
