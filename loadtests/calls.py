"""One HTTP call the way every load-test request is made: traced, marked, classified.

Adds the W3C ``traceparent`` and the synthetic-traffic headers (``loadtests/tracing.py``), the
bearer token if given, and reports the answer to Locust as a success or a failure according to
``loadtests/outcomes.py``, under a name that groups it by route template.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from locust.contrib.fasthttp import FastHttpSession

from loadtests.outcomes import Outcome, classify
from loadtests.tracing import synthetic_headers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """What the caller needs from an answer."""

    status: int
    body: Any  # parsed JSON on success, else None
    outcome: Outcome
    retry_after: float | None = None  # seconds, from a 429's Retry-After header
    etag: str | None = None  # the ETag header (the todo reads carry one)

    @property
    def ok(self) -> bool:
        """True when the call was reported as a success."""
        return self.outcome.ok


class RequestOptions(TypedDict, total=False):
    """:func:`call`'s optional keywords about the request, for wrappers that pass them on."""

    expected: Collection[int]
    body: object | None
    gone_ok: bool
    if_none_match: str | None
    judge: Callable[[Any], Outcome | None] | None


class CallOptions(RequestOptions, total=False):
    """All of :func:`call`'s optional keywords."""

    token: str | None


def call(
    session: FastHttpSession,
    method: str,
    path: str,
    *,
    name: str,
    expected: Collection[int] = (200,),
    token: str | None = None,
    body: object | None = None,
    gone_ok: bool = False,
    if_none_match: str | None = None,
    judge: Callable[[Any], Outcome | None] | None = None,
) -> Reply:
    """Send one request, report it to Locust's statistics as ``name``, return the answer.

    ``if_none_match`` (an ETag the caller holds) makes it a conditional request: a ``304 Not
    Modified`` is then a success, its body empty (the caller reuses its copy). ``judge`` reads
    the parsed body of an expected answer and may overrule the status (GraphQL: a 200 whose
    ``errors`` say the server failed is a failure, ``loadtests/graphql.py``).
    """
    headers = synthetic_headers()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match
        expected = (*expected, 304)
    with session.request(
        method, path, name=name, headers=headers, json=body, catch_response=True
    ) as response:
        status = int(response.status_code or 0)
        outcome = classify(
            status,
            expected=expected,
            gone_ok=gone_ok,
            transport_error=getattr(response, "error", None),
        )
        parsed = _json(response.content) if outcome.ok and not outcome.gone else None
        if judge is not None and outcome.ok and not outcome.gone:
            outcome = judge(parsed) or outcome
        if outcome.error is None:
            response.success()
        else:
            response.failure(outcome.error)
        retry_after = _retry_after(response.headers) if status == 429 else None
        etag = response.headers.get("ETag") if response.headers is not None else None
    return Reply(status=status, body=parsed, outcome=outcome, retry_after=retry_after, etag=etag)


def _json(content: bytes | None) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (DRF's form)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


MAX_ATTEMPTS = 10  # per call, 429 waits included
RETRY_AFTER_CAP_SECONDS = 60.0  # the longest Retry-After honoured per attempt
BACKOFF_SECONDS = 0.1  # after a 5xx or no answer: 0.1 s, 0.2 s, ... (capped at 1 s)


def call_with_retries(
    session: FastHttpSession,
    method: str,
    path: str,
    *,
    name: str,
    sleep: Callable[[float], object],
    **options: Unpack[CallOptions],
) -> Reply:
    """:func:`call`, retried (bounded) while the answer is a 429, a 5xx or no answer.

    For setup and control requests only: a 429 waits for its ``Retry-After``, a 5xx or a
    missing answer backs off briefly. Every attempt is reported to Locust under ``name``; the
    gate leaves these names out, so throttled or failed attempts never count against the SLO.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        reply = call(session, method, path, name=name, **options)
        delay = _retry_delay(reply, attempt)
        if delay is None or attempt == MAX_ATTEMPTS:
            break
        if reply.status == 429:
            logger.warning("%s throttled (429): retrying in %.0f s", name, delay)
        sleep(delay)
    return reply


def _retry_delay(reply: Reply, attempt: int) -> float | None:
    """Seconds to wait before retrying after ``reply``, or None when it is final."""
    if reply.status == 429:
        return min(reply.retry_after or 1.0, RETRY_AFTER_CAP_SECONDS)
    if reply.status == 0 or reply.status >= 500:
        return min(BACKOFF_SECONDS * attempt, 1.0)
    return None
