"""The simulated client's pure parts: failure classification, tokens, trace headers, mixes."""

from __future__ import annotations

import base64
import json
import random

import pytest

from loadtests.mixes import MIXES
from loadtests.outcomes import (
    ClientError,
    NoAnswerError,
    ServerError,
    classify,
    counts_against_availability,
    is_throttled,
)
from loadtests.tokens import AccessToken, TokenError, refresh_time
from loadtests.tracing import TRACEPARENT, synthetic_headers, trace_id_of


def test_expected_statuses_are_successes() -> None:
    assert classify(201, expected=(201,)).ok


def test_a_5xx_is_a_server_error_that_counts_against_availability() -> None:
    outcome = classify(503, expected=(200,))

    assert isinstance(outcome.error, ServerError)
    assert counts_against_availability(outcome.error)
    assert counts_against_availability(repr(outcome.error))  # as a distributed master sees it


def test_no_answer_is_a_failure_naming_the_transport_error() -> None:
    outcome = classify(0, expected=(200,), transport_error=TimeoutError("timed out"))

    assert isinstance(outcome.error, NoAnswerError)
    assert str(outcome.error) == "TimeoutError"
    assert counts_against_availability(outcome.error)


def test_a_404_on_a_detail_route_is_a_vanished_todo_not_a_failure() -> None:
    outcome = classify(404, expected=(200,), gone_ok=True)

    assert outcome.ok
    assert outcome.gone


@pytest.mark.parametrize(
    ("status", "throttled"), [(400, False), (401, False), (404, False), (429, True)]
)
def test_unexpected_4xx_are_client_errors_outside_the_availability_budget(
    status: int, throttled: bool
) -> None:
    outcome = classify(status, expected=(200,))

    assert isinstance(outcome.error, ClientError)
    assert not counts_against_availability(outcome.error)
    assert is_throttled(repr(outcome.error)) is throttled


def jwt(payload: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.signature"


def test_an_access_token_is_refreshed_30_seconds_before_it_expires() -> None:
    token = AccessToken.parse(jwt({"exp": 1300, "iat": 1000, "token_type": "access"}))

    assert token.expires_at == 1300
    assert token.refresh_at == 1270
    assert not token.due(1269.9)
    assert token.due(1270)


def test_a_short_lived_token_is_refreshed_in_its_last_quarter() -> None:
    assert refresh_time(expires_at=1040, issued_at=1000) == 1030
    assert refresh_time(expires_at=1300, issued_at=None) == 1270


@pytest.mark.parametrize("token", ["not-a-jwt", "a.!!!.c", jwt({"sub": "1"}), jwt({"exp": True})])
def test_a_token_without_a_readable_exp_is_refused(token: str) -> None:
    with pytest.raises(TokenError):
        AccessToken.parse(token)


def test_every_request_gets_a_fresh_sampled_w3c_trace_and_the_synthetic_marks() -> None:
    first, second = synthetic_headers(), synthetic_headers()

    assert TRACEPARENT.match(first["traceparent"])
    assert first["traceparent"].endswith("-01")
    assert trace_id_of(first["traceparent"]) != trace_id_of(second["traceparent"])
    assert first["X-Synthetic"] == "locust"
    assert first["baggage"] == "synthetic=true"


def test_the_read_mix_is_read_heavy_and_the_write_mix_write_heavy() -> None:
    # 90 reads, 10 writes and one export in 101 actions
    assert MIXES["read"].read_share == pytest.approx(90 / 101)
    assert MIXES["write"].read_share < 0.3


def test_the_default_mix_exports_now_and_then_and_the_exports_mix_mostly() -> None:
    assert MIXES["read"].weights["export"] == 1
    assert "export" not in MIXES["write"].weights  # the database's stress case
    exports = MIXES["exports"]
    assert exports.weights["export"] == max(exports.weights.values())


@pytest.mark.parametrize("name", ["read", "write"])
def test_a_mix_draws_every_action_roughly_by_weight(name: str) -> None:
    mix = MIXES[name]
    rng = random.Random(4)  # noqa: S311  # a reproducible draw, not a secret
    draws = [mix.pick(rng) for _ in range(20_000)]

    total = sum(mix.weights.values())
    for action, weight in mix.weights.items():
        assert draws.count(action) / len(draws) == pytest.approx(weight / total, abs=0.01)


def test_creates_and_deletes_stay_close_so_accounts_do_not_grow_without_bound() -> None:
    for mix in MIXES.values():
        assert mix.weights["delete"] <= mix.weights["create"] <= 2 * mix.weights["delete"] + 2
