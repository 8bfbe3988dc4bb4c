"""The export contract through the real gunicorn, a real Celery worker and beat.

The stack is ``make run``'s: gunicorn beside ``celery worker`` and ``celery beat`` on Kombu's
filesystem broker, on a fresh database of the suite's kind (SQLite, or PostgreSQL on that
pass). Asserted: 202 + ``Location``, the job running in the worker to ``succeeded``, the file
in both formats with its type and ``Content-Disposition``, 409 before it exists, 404 for
another user everywhere, one ``task_run`` JSON line per run, and expiry cleaning rows and
files (a short ``EXPORT_RETENTION_HOURS``).
"""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.exports.conftest import Stack
from tests.support.accounts import Account, create_account
from tests.support.databases import count_exports, expire_now
from tests.support.http import Response, http
from tests.support.waiting import poll

pytestmark = pytest.mark.e2e

JOB_DEADLINE_S = 20.0


def export(stack: Stack, account: Account, fmt: str, *, traceparent: str = "") -> Response:
    """``POST /api/todos/exports/`` (continuing ``traceparent`` when given)."""
    headers = {**account.headers, **({"traceparent": traceparent} if traceparent else {})}
    return http(
        "POST",
        f"{stack.server.url}/api/todos/exports/",
        json_body={"format": fmt},
        headers=headers,
    )


def wait_until_finished(url: str, account: Account) -> dict[str, Any]:
    """Poll an export's status URL until it is succeeded or failed; its last body."""
    answer = poll(
        lambda: http("GET", url, headers=account.headers),
        lambda r: r.status == 200 and r.body["status"] in {"succeeded", "failed"},
        timeout=JOB_DEADLINE_S,
        failure=lambda r: f"export not finished in {JOB_DEADLINE_S} s: {r.status} {r.body}",
    )
    body: dict[str, Any] = answer.body
    return body


def add_todos(stack: Stack, account: Account, *titles: str) -> None:
    for title in titles:
        created = http(
            "POST",
            f"{stack.server.url}/api/todos/",
            json_body={"title": title},
            headers=account.headers,
        )
        assert created.status == 201, created


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("csv", "text/csv"), ("json", "application/json")]
)
def test_an_export_runs_in_the_worker_and_downloads_as_a_file(
    stack: Stack, fmt: str, content_type: str
) -> None:
    alice = create_account(stack.server)
    add_todos(stack, alice, "buy milk", "=HYPERLINK(evil)")

    trace_id = secrets.token_hex(16)

    accepted = export(stack, alice, fmt, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")

    assert accepted.status == 202, accepted
    assert set(accepted.body) == {"id", "status", "format", "created_at", "url"}
    assert (accepted.body["status"], accepted.body["format"]) == ("pending", fmt)
    assert accepted.headers["Location"] == accepted.body["url"]
    assert accepted.body["url"] == f"{stack.server.url}/api/todos/exports/{accepted.body['id']}/"
    finished = wait_until_finished(accepted.body["url"], alice)
    assert set(finished) == {
        "id",
        "status",
        "format",
        "created_at",
        "finished_at",
        "todo_count",
        "download_url",
    }
    assert (finished["status"], finished["todo_count"]) == ("succeeded", 2), finished
    assert finished["download_url"] == f"{accepted.body['url']}download/"
    file = http("GET", finished["download_url"], headers=alice.headers)
    assert file.status == 200
    assert file.headers["Content-Type"].startswith(content_type)
    disposition = file.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="todos-{accepted.body["id"]}.{fmt}"'
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(file.body)))
        assert [row["title"] for row in rows] == ["'=HYPERLINK(evil)", "buy milk"]
    else:
        assert [todo["title"] for todo in file.body] == ["=HYPERLINK(evil)", "buy milk"]
    runs = [
        event
        for event in stack.worker.events()
        if event.get("event") == "task_run" and event.get("task_name") == "exports.run"
    ]
    assert runs, stack.worker.log()[-3000:]
    mine = [run for run in runs if run.get("trace_id") == trace_id]
    assert len(mine) == 1, runs  # the request's trace continues in the worker's log line
    assert {"task_id", "state", "duration_ms", "retries", "span_id", "service"} <= set(mine[0])
    assert (mine[0]["state"], mine[0]["retries"]) == ("SUCCESS", 0)


def test_the_download_answers_409_until_the_export_succeeded(stack: Stack) -> None:
    alice = create_account(stack.server)
    stack.worker.process.send_signal(19)  # SIGSTOP: the job waits in the queue
    try:
        accepted = export(stack, alice, "json")
        early = http("GET", f"{accepted.body['url']}download/", headers=alice.headers)
        status = http("GET", accepted.body["url"], headers=alice.headers)
    finally:
        stack.worker.process.send_signal(18)  # SIGCONT

    assert early.status == 409, early
    assert early.body == {"detail": "The export is not ready: it is pending."}
    assert (status.body["status"], status.body["download_url"]) == ("pending", None)
    assert wait_until_finished(accepted.body["url"], alice)["status"] == "succeeded"
    assert http("GET", f"{accepted.body['url']}download/", headers=alice.headers).status == 200


def test_another_users_export_is_not_found_everywhere(stack: Stack) -> None:
    alice, bob = create_account(stack.server), create_account(stack.server)
    accepted = export(stack, alice, "csv")
    wait_until_finished(accepted.body["url"], alice)

    for url in (accepted.body["url"], f"{accepted.body['url']}download/"):
        answer = http("GET", url, headers=bob.headers)
        assert (answer.status, answer.body) == (404, {"detail": "Not found."}), url


def test_a_bad_format_is_a_400_naming_the_field(stack: Stack) -> None:
    alice = create_account(stack.server)

    answer = export(stack, alice, "xml")

    assert answer.status == 400
    assert list(answer.body) == ["format"]


def test_expired_exports_are_deleted_with_their_files(stack: Stack) -> None:
    """An export past its expiry (moved back in the server's database) is deleted by beat's
    cleanup, row and file, within a few seconds."""
    alice = create_account(stack.server)
    accepted = export(stack, alice, "csv")
    wait_until_finished(accepted.body["url"], alice)
    file = Path(stack.server.env["EXPORT_STORAGE_DIR"]) / f"todos-{accepted.body['id']}.csv"
    assert file.exists()

    expire_now(stack.server.env["DATABASE_URL"], accepted.body["id"])

    poll(
        file.exists,
        lambda exists: not exists,
        timeout=JOB_DEADLINE_S,
        failure=lambda _: f"{file.name} not deleted:\n{stack.worker.log()[-2000:]}",
    )
    gone = http("GET", accepted.body["url"], headers=alice.headers)
    assert (gone.status, gone.body) == (404, {"detail": "Not found."})
    assert count_exports(stack.server.env["DATABASE_URL"], accepted.body["id"]) == 0


def test_the_worker_and_beat_write_only_json_log_lines(stack: Stack) -> None:
    """No banner, no plain-text line: the stream a log shipper reads is the web's format."""
    for process in (stack.worker, stack.beat):
        lines = [line for line in process.log().splitlines() if line.strip()]
        parsed = process.events()
        assert lines, process.log_path
        assert len(parsed) == len(lines), [line for line in lines if not line.startswith("{")]
        assert all(event.get("service") for event in parsed)
