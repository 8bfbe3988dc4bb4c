"""Login throttling keyed on the submitted username, against password guessing.

The per-IP ``auth`` scope (``THROTTLE_AUTH_RATE``) stops one client from guessing quickly; it
does nothing against guesses for one account spread over many addresses (a botnet, rotating
proxies). ``LoginUsernameThrottle`` counts the login attempts *per username* that did not
succeed, whatever address they came from, at ``THROTTLE_LOGIN_USER_RATE`` (default 5/minute).

- The counter lives in the cache (Redis in production: shared by every worker and pod). Its
  window opens with the first counted attempt and lasts the rate's period. It is incremented
  atomically *before* the password is checked, so a burst of parallel guesses cannot slip
  past it; a successful login gives its attempt back (``refund``), so users who type their
  password right are never slowed down.
- While Redis is unavailable the counter lives in the worker's memory (``app.cache.fallback``)
  instead of being forgotten: the limit then holds per worker, so one username gets at most
  ``WEB_CONCURRENCY`` times the rate of failed attempts per pod, never an unlimited number.
  That store is its own (bounded, least recently used culled first), so a flood of other
  clients' request histories cannot push an attacked username's counter out.
- Once the window's budget is spent, every login for that username is refused with 429 and
  ``Retry-After`` until the window ends, the right password included: answering it
  differently would tell the guesser it was right.
- The cache key holds an HMAC of the normalised username, never the username itself.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.utils.crypto import salted_hmac
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from app.cache.fallback import FallbackCache
from app.whitespace import is_blank, strip

_KEY_SALT = "app.accounts.throttling.LoginUsernameThrottle"
_MAX_USERNAME_CHARS = 256  # longer input is not a username; hash a bounded prefix anyway

# Failed-login counters (two small entries per username), apart from the request histories.
LOGIN_COUNTERS = FallbackCache("login_user", max_entries=50_000)


def submitted_username(request: Request) -> str | None:
    """The ``username`` a login request carries, normalised; ``None`` when there is none.

    A body DRF cannot parse raises here exactly as it would in the view (400 or 415).
    """
    data: Any = request.data
    username = data.get("username") if isinstance(data, dict) else None
    if not isinstance(username, str) or is_blank(username):
        return None
    # trimmed as the token serializer trims it: "alice" and "alice\ufeff" log in as one user,
    # so they must count against one budget
    return strip(username).casefold()[:_MAX_USERNAME_CHARS]


class LoginUsernameThrottle(SimpleRateThrottle):
    """At most ``login_user`` rate failed logins per username and window, from any address."""

    scope = "login_user"
    cache = LOGIN_COUNTERS

    def __init__(self) -> None:
        super().__init__()
        self.budget, self.window_s = self.parse_rate(self.rate)
        self.key: str | None = None
        self.counted = False
        self.retry_after = 0.0

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        """``throttle_login_user_<hmac of the username>``: no username, no throttling."""
        username = submitted_username(request)
        if username is None:
            return None
        digest = salted_hmac(_KEY_SALT, username, algorithm="sha256").hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Count this attempt; refuse it when the window already holds the rate's budget."""
        if self.budget is None or self.window_s is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        self.cache.add(f"{self.key}_opened", now, self.window_s)
        attempts = self._increment(self.key, timeout=self.window_s)
        self.counted = True
        if attempts > self.budget:
            opened = float(self.cache.get(f"{self.key}_opened", now))
            self.retry_after = opened + self.window_s - now
            return False
        return True

    def wait(self) -> float:
        """Seconds until the window closes (DRF sends them as ``Retry-After``)."""
        return max(self.retry_after, 1.0)

    def refund(self) -> None:
        """Take back this request's attempt: the login succeeded."""
        if not self.counted or self.key is None:
            return
        with contextlib.suppress(ValueError):  # the window closed meanwhile; counter gone
            self.cache.decr(self.key)
        self.counted = False

    def _increment(self, key: str, *, timeout: int) -> int:
        """Atomically add one to ``key`` (created with ``timeout`` seconds to live)."""
        created = self.cache.add(key, 0, timeout)
        try:
            attempts = int(self.cache.incr(key))
        except ValueError:  # expired between add and incr: open a new window
            self.cache.add(key, 1, timeout)
            return 1
        if attempts == 1 and not created:
            # Redis' INCR on a key that expired right after Django's existence check creates
            # it without a time to live: give it one, or the username would stay locked.
            self.cache.touch(key, timeout)
        return attempts
