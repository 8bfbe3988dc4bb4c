"""``python -m app.jobs.supervise`` (what ``make run`` execs): gunicorn, a worker and beat.

On a fresh SQLite database with no Redis (the filesystem broker), the three come up, an
export requested over HTTP is written by the worker (and counted on the worker's own
``WORKER_METRICS_PORT``, not in gunicorn's metrics), and one SIGINT (a terminal's Ctrl-C)
stops all three cleanly: the supervisor exits 0 and no child is left.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from app.jobs import commands
from loadtests import local_server
from tests.support.accounts import create_account
from tests.support.databases import sqlite_url
from tests.support.http import http
from tests.support.jobs import jobs_env
from tests.support.ports import HOST, free_port
from tests.support.prometheus import Scrape, scrape, scrape_url
from tests.support.servers import Server, collected_static, manage, server_environment
from tests.support.waiting import poll

# make run's own SQLite file, whichever database the suite runs on: database-free here.
pytestmark = [pytest.mark.e2e, pytest.mark.database_free]

STOP_DEADLINE_S = 25.0


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_make_runs_stack_serves_exports_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = server_environment(
        {
            **jobs_env(tmp_path),
            "DATABASE_URL": sqlite_url(tmp_path),
            "CELERY_WORKER_POOL": "prefork",  # make run's default
        },
        port=port,
        directory=tmp_path,
    )
    env.pop("REDIS_URL", None)
    env["CELERY_BROKER_URL"] = ""  # unset: the server-less default
    env["DJANGO_STATIC_ROOT"] = str(collected_static())  # what make run's collectstatic makes
    manage("migrate", "--noinput", env=env)
    log_path = tmp_path / "supervise.log"
    process = local_server.start(
        [commands.PYTHON, "-m", "app.jobs.supervise", "--config", "gunicorn.conf.py"],
        env=env,
        log_path=log_path,
    )
    try:
        url = f"http://{HOST}:{port}"
        local_server.wait_until_ready(
            process, lambda: local_server.answers_200(f"{url}/healthz"), timeout=30
        )
        server = Server(url=url, env=env, process=process, log_path=log_path)
        alice = create_account(server)
        accepted = http(
            "POST", f"{url}/api/todos/exports/", json_body={"format": "csv"}, headers=alice.headers
        )
        assert accepted.status == 202, accepted
        poll(
            lambda: http("GET", accepted.body["url"], headers=alice.headers).body["status"],
            lambda status: status == "succeeded",
            timeout=30,
            failure=lambda status: f"{status}:\n{log_path.read_text()[-3000:]}",
        )
        assert (tmp_path / "broker" / "queue").is_dir()  # the filesystem broker carried it

        # The worker's metrics on WORKER_METRICS_PORT, apart from gunicorn's (own directory).
        # The export is marked succeeded by the task itself, before Celery's task_succeeded
        # signal counts it, and the series may already be there at 0: wait for the count.
        def succeeded(found: Scrape) -> float:
            return float(sum(s.value for s in found.matching("celery_task_succeeded_total")))

        worker_metrics = poll(
            lambda: scrape_url(f"http://{HOST}:{env['WORKER_METRICS_PORT']}/metrics"),
            lambda found: succeeded(found) >= 1,
            timeout=10,
            failure=lambda found: (
                f"celery_task_succeeded_total on WORKER_METRICS_PORT stayed at {succeeded(found)}"
            ),
        )
        assert succeeded(worker_metrics) == 1
        assert not scrape(server).matching("celery_task_succeeded_total")
        children = children_of(process.pid)
        assert len(children) == 3

        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        returncode = process.wait(timeout=STOP_DEADLINE_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert returncode == 0, log_path.read_text()[-3000:]
    assert time.monotonic() - started < STOP_DEADLINE_S
    assert not [pid for pid in children if alive(pid)]
