"""The GraphQL load-test client's judgement: a 200 is judged by its errors' codes."""

from __future__ import annotations

import pytest

from loadtests import graphql
from loadtests.outcomes import ClientError, ServerError, counts_against_availability


def answer(*codes: str) -> dict[str, object]:
    return {
        "data": {"todo": None},
        "errors": [{"message": "x", "extensions": {"code": code}} for code in codes],
    }


def test_an_answer_without_errors_keeps_the_status_verdict() -> None:
    assert graphql.judge()({"data": {"todos": {}}}) is None


@pytest.mark.parametrize("code", ["INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"])
def test_a_200_with_a_server_error_counts_against_availability(code: str) -> None:
    outcome = graphql.judge()(answer("NOT_FOUND", code))

    assert outcome is not None
    assert isinstance(outcome.error, ServerError)
    assert str(outcome.error) == f"GraphQL {code}"
    assert counts_against_availability(repr(outcome.error))


def test_not_found_on_a_todo_id_is_a_vanished_todo() -> None:
    outcome = graphql.judge(gone_ok=True)(answer("NOT_FOUND"))
    assert outcome is not None
    assert outcome.ok
    assert outcome.gone


@pytest.mark.parametrize("code", ["NOT_FOUND", "BAD_USER_INPUT", "QUERY_TOO_COMPLEX"])
def test_other_codes_are_client_errors_outside_the_budget(code: str) -> None:
    outcome = graphql.judge()(answer(code))

    assert outcome is not None
    assert isinstance(outcome.error, ClientError)
    assert not counts_against_availability(repr(outcome.error))


def test_requests_are_named_by_operation_as_the_service_names_its_spans() -> None:
    assert graphql.name_of(graphql.TODO_LIST) == "graphql: query TodoList"
    assert graphql.name_of(graphql.DELETE) == "graphql: mutation DeleteTodo"


def test_the_documents_use_only_the_services_known_operation_names() -> None:
    from app.graphql.operations import KNOWN_OPERATIONS  # noqa: PLC0415

    documents = [graphql.TODO_LIST, graphql.TODO, graphql.CREATE, graphql.UPDATE]
    documents += [graphql.COMPLETE, graphql.DELETE]
    names = {graphql.name_of(document).split()[-1] for document in documents}
    assert names == set(KNOWN_OPERATIONS)
