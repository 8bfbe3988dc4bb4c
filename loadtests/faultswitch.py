"""The incident shape's hand on the service's runtime fault switch.

``PUT /api/faults/`` (a staff user's bearer token, JSON ``{"error_rate", "latency_ms",
"latency_jitter_ms", "routes"}``) switches faults on for every worker within about a second;
``DELETE /api/faults/`` switches them off again. The staff account comes from
INCIDENT_ADMIN_USERNAME / INCIDENT_ADMIN_PASSWORD (``make run`` creates ``demo-admin``). The
requests are named ``control: ...`` and the gate leaves them out. Runs on the master (or the
local runner), where the shape ticks; switching happens in its own greenlet so ``tick()``
never waits on the network.
"""

from __future__ import annotations

import logging
import time

import gevent
import gevent.lock
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from loadtests.calls import call_with_retries
from loadtests.options import IncidentSettings
from loadtests.tokens import AccessToken, TokenError

logger = logging.getLogger(__name__)

FAULTS_PATH = "/api/faults/"


class FaultSwitch:
    """Switches the target's faults on or off when the wanted state changes."""

    def __init__(self, environment: Environment, settings: IncidentSettings) -> None:
        self.environment = environment
        self.settings = settings
        self.wanted = False
        self.on = False  # what the service last confirmed
        self.history: list[str] = []  # "on at 100 s", "off at 200 s", for the gate's note
        self.problem: str | None = None
        self._lock = gevent.lock.Semaphore()
        self._login_lock = gevent.lock.Semaphore()
        self._access: AccessToken | None = None
        self._put_sent = False
        self._started = time.monotonic()
        self._session: FastHttpSession | None = None

    def prepare(self) -> None:
        """Log the staff user in now, in the background: a login hashes a password, better
        before the measured mix than while the fault is due."""
        gevent.spawn(self._token)

    def want(self, on: bool) -> None:
        """Ask for a state; a change is applied in the background."""
        if on != self.wanted:
            self.wanted = on
            gevent.spawn(self._apply, on)

    def ensure_off(self) -> None:
        """Switch the faults off now if this switch turned them on (end of run, Ctrl-C)."""
        self.wanted = False
        if self.on or self._put_sent:  # also when a PUT's answer was lost
            self.on = True
            self._apply(False)

    def _apply(self, on: bool) -> None:
        with self._lock:
            if on != self.wanted or on == self.on:
                return  # superseded meanwhile, or already there
            token = self._token()
            if token is None:
                return
            body: object | None = self.settings.fault_body() if on else None
            method = "PUT" if on else "DELETE"
            self._put_sent = self._put_sent or on
            reply = call_with_retries(
                self._http(),
                method,
                FAULTS_PATH,
                name=f"control: {FAULTS_PATH}",
                expected=(200, 201, 204),
                token=token,
                body=body,
                sleep=gevent.sleep,
            )
            elapsed = time.monotonic() - self._started
            if not reply.ok:
                if on:  # no answer or a 5xx: the faults may be on; a 4xx refused them
                    self._put_sent = reply.status == 0 or reply.status >= 500
                self._fail(
                    f"{method} {FAULTS_PATH} answered HTTP {reply.status}{_hint(reply.status)}"
                )
                return
            self.on = on
            self._put_sent = self._put_sent and on
            self.history.append(f"{'on' if on else 'off'} at {elapsed:.0f} s")
            logger.warning(
                "incident: faults switched %s (%s)",
                "ON" if on else "OFF",
                self.settings.fault_body() if on else "back to the target's defaults",
            )

    def _http(self) -> FastHttpSession:
        if self._session is None:
            self._session = FastHttpSession(
                base_url=self.environment.host,
                request_event=self.environment.events.request,
                user=None,
                network_timeout=30.0,
                connection_timeout=10.0,
            )
        return self._session

    def _token(self) -> str | None:
        """The staff user's access token, logging in when there is none or it is due."""
        with self._login_lock:
            if self._access is None or self._access.due(time.time()):
                self._access = self._login()
            return self._access.value if self._access is not None else None

    def _login(self) -> AccessToken | None:
        credentials = {
            "username": self.settings.admin_username,
            "password": self.settings.admin_password,
        }
        reply = call_with_retries(
            self._http(),
            "POST",
            "/api/auth/token/",
            name="control: /api/auth/token/",
            body=credentials,
            sleep=gevent.sleep,
        )
        if reply.ok and isinstance(reply.body, dict) and "access" in reply.body:
            try:
                return AccessToken.parse(str(reply.body["access"]))
            except TokenError as error:
                self._fail(f"unreadable access token for {self.settings.admin_username!r}: {error}")
                return None
        self._fail(
            f"login as {self.settings.admin_username!r} answered HTTP {reply.status} (set "
            "INCIDENT_ADMIN_USERNAME / INCIDENT_ADMIN_PASSWORD to a staff user of the target)"
        )
        return None

    def _fail(self, problem: str) -> None:
        self.problem = self.problem or problem  # the first failure explains the rest
        logger.error("incident: the fault switch failed: %s", problem)


def _hint(status: int) -> str:
    if status == 403:
        return " (not a staff user, or the target is marked production and refuses faults)"
    if status == 404:
        return " (the target has no runtime fault switch)"
    return ""
