"""What counts as a failure: the classification every load-test request goes through.

The availability SLO is "share of requests not answered 5xx", so:

- a 5xx answer is a :class:`ServerError` and a request that got no answer at all (refused,
  reset, timed out) a :class:`NoAnswerError`: both count against availability in the gate;
- an unexpected 4xx (401 from a bad token, 429 from the target's throttles, 400 from a bad
  payload) is a :class:`ClientError`: a failure in Locust's report, so it is seen, but not an
  availability failure: the service answered correctly, the test or its configuration is off;
- a 404 on a todo id is expected and a success: users sharing an account race each other, and
  one may delete a todo another still remembers;
- GraphQL answers 200 whatever happened inside: its ``errors`` decide (:func:`classify_graphql`).
  A server's code (``INTERNAL_SERVER_ERROR``, ``SERVICE_UNAVAILABLE``) is a
  :class:`ServerError` like a 5xx, ``NOT_FOUND`` on a todo id is "gone" like a 404, and any
  other code is a :class:`ClientError`.

The exception class names are part of the contract with the gate, which reads them back from
Locust's error table (``ClientError('HTTP 429 throttled')``), also after a distributed run has
merged the workers' tables on the master.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

CLIENT_ERROR_PREFIX = "ClientError("
THROTTLED_MARK = "HTTP 429"


class ServerError(Exception):
    """A 5xx answer: counts against the availability SLO."""


class NoAnswerError(Exception):
    """No HTTP answer (connection refused or reset, timeout): counts against availability."""


class ClientError(Exception):
    """An unexpected 4xx answer: a failure of the test or its setup, not of availability."""


@dataclass(frozen=True)
class Outcome:
    """How to report one answer: success, success for a vanished todo, or a failure."""

    error: Exception | None = None
    gone: bool = False  # a 404 on a todo id: forget the id, report success

    @property
    def ok(self) -> bool:
        """True when Locust should record a success."""
        return self.error is None


def classify(
    status: int,
    *,
    expected: Collection[int],
    gone_ok: bool = False,
    transport_error: BaseException | None = None,
) -> Outcome:
    """Classify an answer with HTTP ``status`` (0 when no answer came back).

    ``expected`` are the statuses that mean success; ``gone_ok`` makes a 404 a success too
    (detail routes, where another user of the same account may have deleted the todo).
    """
    if status == 0:
        kind = type(transport_error).__name__ if transport_error is not None else "no answer"
        return Outcome(error=NoAnswerError(kind))
    if status in expected:
        return Outcome()
    if status == 404 and gone_ok:
        return Outcome(gone=True)
    if status >= 500:
        return Outcome(error=ServerError(f"HTTP {status}"))
    if status == 429:
        return Outcome(error=ClientError(f"{THROTTLED_MARK} throttled"))
    return Outcome(error=ClientError(f"HTTP {status} unexpected"))


def error_text(error: object) -> str:
    """The text Locust keys its error table by (a string on the master, else an exception)."""
    return error if isinstance(error, str) else repr(error)


def counts_against_availability(error: object) -> bool:
    """True unless the recorded failure is a :class:`ClientError` (unknown errors count)."""
    return not error_text(error).startswith(CLIENT_ERROR_PREFIX)


def is_throttled(error: object) -> bool:
    """True for a 429 answer recorded as a :class:`ClientError`."""
    text = error_text(error)
    return text.startswith(CLIENT_ERROR_PREFIX) and THROTTLED_MARK in text


GRAPHQL_SERVER_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})


def classify_graphql(codes: Collection[str], *, gone_ok: bool = False) -> Outcome | None:
    """Classify a GraphQL answer (HTTP 200) by its errors' codes; None when it has none."""
    if not codes:
        return None
    server = sorted(GRAPHQL_SERVER_CODES.intersection(codes))
    if server:
        return Outcome(error=ServerError(f"GraphQL {server[0]}"))
    if gone_ok and set(codes) == {"NOT_FOUND"}:
        return Outcome(gone=True)
    return Outcome(error=ClientError(f"GraphQL {sorted(set(codes))[0]} unexpected"))
